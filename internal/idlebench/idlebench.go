// Package idlebench measures whether an idle device behind a NAT stays
// reachable, and what keeping it reachable costs in packets.
//
// Each system runs in a lab of its own with the same access network (by
// default every NAT forgets idle UDP mappings after 30 s): homeip (a live
// `ha` and `mnode`, the node idle and receive-only) and stock WireGuard
// (wireguard-go on both ends, the node with a 25 s persistent keepalive).
// The labs run at the same time. After bring-up the correspondent node
// `cn` pings the device's tunnel address once at random intervals longer
// than the NAT timeout (the same schedule in both labs): an attempt counts
// as answered if the echo reply comes back within Options.Answer. The
// packets the device sends are counted on its uplink with an nftables
// counter (UDP leaving wlan0, which is everything a tunnel sends:
// WireGuard, QUIC and idle probes), from the first attempt's schedule
// start to the end.
package idlebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/homeip/homeip/internal/handoverbench"
	"github.com/homeip/homeip/internal/netlab"
)

// Options configures a run. Zero fields take the defaults documented on
// each.
type Options struct {
	// Bin locates ha, mnode and wireguard-go.
	Bin handoverbench.Binaries
	// Duration is how long attempts are made after bring-up (default 6 min).
	Duration time.Duration
	// MinGap and MaxGap bound the random interval between attempts
	// (default 35 s and 90 s: always longer than the NAT timeout).
	MinGap, MaxGap time.Duration
	// NATTimeout is every NAT's UDP timeout (default 30 s).
	NATTimeout time.Duration
	// Answer is how long an attempt waits for its echo reply (default 3 s).
	Answer time.Duration
	// Seed makes the schedule repeatable (0: random).
	Seed uint64
	// Systems are the systems to run (default both: "homeip", "wireguard").
	Systems []string
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
	// Progress, when set, receives a line per attempt.
	Progress io.Writer
}

// Systems compared.
const (
	HomeIP    = "homeip"
	WireGuard = "wireguard"
)

func (o Options) withDefaults() Options {
	if o.Duration <= 0 {
		o.Duration = 6 * time.Minute
	}
	if o.MinGap <= 0 {
		o.MinGap = 35 * time.Second
	}
	if o.MaxGap < o.MinGap {
		o.MaxGap = max(o.MinGap, 90*time.Second)
	}
	if o.NATTimeout <= 0 {
		o.NATTimeout = 30 * time.Second
	}
	if o.Answer <= 0 {
		o.Answer = 3 * time.Second
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	if len(o.Systems) == 0 {
		o.Systems = []string{HomeIP, WireGuard}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Attempt is one ping of the device.
type Attempt struct {
	// At is the time since the measurement started.
	At time.Duration
	// Answered is true when the echo reply came back in time.
	Answered bool
	// RTT is the reply's round trip (0 when unanswered).
	RTT time.Duration
}

// SystemResult is what one system did.
type SystemResult struct {
	System   string
	Attempts []Attempt
	// Packets is how many UDP packets the device sent on its uplink
	// during Elapsed.
	Packets uint64
	// WireGuardPackets, QUICPackets and ProbePackets split Packets by the
	// first byte of the UDP payload: WireGuard (types 1..4), QUIC (0x40
	// bit set) and idle probes (tunnel.IdleProbeKind).
	WireGuardPackets, QUICPackets, ProbePackets uint64
	// Elapsed is how long packets were counted.
	Elapsed time.Duration
	// Keepalive is the node's keepalive interval at the end (homeip:
	// from `mnode status`; WireGuard: its persistent keepalive).
	Keepalive time.Duration
	// Events are the node's log lines about keepalives, idle probes and
	// NAT mappings (homeip only).
	Events []string
	// Err is why the system's run failed, if it did.
	Err error
}

// Answered counts the answered attempts.
func (s SystemResult) Answered() int {
	n := 0
	for _, a := range s.Attempts {
		if a.Answered {
			n++
		}
	}
	return n
}

// PacketsPerHour is Packets scaled to an hour.
func (s SystemResult) PacketsPerHour() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Packets) * float64(time.Hour) / float64(s.Elapsed)
}

// Result is a run's outcome.
type Result struct {
	Options Options
	// Schedule is the offsets of the attempts from the start.
	Schedule []time.Duration
	Systems  []SystemResult
}

// Schedule returns the attempt offsets for a run: random gaps in
// [minGap, maxGap] from seed, the first one gap after the start, all
// within d.
func Schedule(seed uint64, d, minGap, maxGap time.Duration) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var out []time.Duration
	at := time.Duration(0)
	for {
		gap := minGap
		if maxGap > minGap {
			gap += time.Duration(rng.Int64N(int64(maxGap - minGap + 1)))
		}
		at += gap.Round(time.Second)
		if at > d {
			return out
		}
		out = append(out, at)
	}
}

// Run builds one lab per system, brings the system up, makes the attempts
// and counts the device's packets. A system that fails has its Err set;
// the error returned joins them.
func Run(ctx context.Context, opt Options) (*Result, error) {
	opt = opt.withDefaults()
	res := &Result{Options: opt, Schedule: Schedule(opt.Seed, opt.Duration, opt.MinGap, opt.MaxGap)}
	res.Systems = make([]SystemResult, len(opt.Systems))
	var wg sync.WaitGroup
	var pmu sync.Mutex
	for i, sys := range opt.Systems {
		wg.Go(func() {
			r := runSystem(ctx, opt, sys, res.Schedule, func(line string) {
				if opt.Progress != nil {
					pmu.Lock()
					fmt.Fprintln(opt.Progress, line)
					pmu.Unlock()
				}
			})
			res.Systems[i] = r
		})
	}
	wg.Wait()
	var errs []error
	for _, s := range res.Systems {
		if s.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.System, s.Err))
		}
	}
	return res, errors.Join(errs...)
}

// deployment is a system running in a lab.
type deployment struct {
	target    netip.Addr
	keepalive func(context.Context) time.Duration
	logs      func() string
	close     func() error
}

func runSystem(ctx context.Context, opt Options, sys string, schedule []time.Duration, progress func(string)) (r SystemResult) {
	r.System = sys
	log := opt.Logger.With("system", sys)
	timeout := opt.NATTimeout
	lab, err := netlab.New(ctx, netlab.Options{
		Logger: log,
		Network: netlab.Network{
			Wifi: netlab.LinkConfig{NATUDPTimeout: timeout},
			Cell: netlab.LinkConfig{NATUDPTimeout: timeout},
		},
	})
	if err != nil {
		r.Err = err
		return r
	}
	defer lab.Close()
	dir, err := os.MkdirTemp("", "idlebench-")
	if err != nil {
		r.Err = fmt.Errorf("idlebench: %w", err)
		return r
	}
	defer os.RemoveAll(dir)

	d, err := deploy(ctx, lab, opt, sys, dir, log)
	if err != nil {
		r.Err = err
		return r
	}
	defer d.close()
	if err := startCounter(ctx, lab); err != nil {
		r.Err = err
		return r
	}
	before, err := readCounters(ctx, lab)
	if err != nil {
		r.Err = err
		return r
	}
	start := time.Now()
	for i, at := range schedule {
		select {
		case <-ctx.Done():
			r.Err = ctx.Err()
			return r
		case <-time.After(time.Until(start.Add(at))):
		}
		pr, err := lab.CN.Ping(ctx, d.target, netlab.PingOptions{Count: 1, Timeout: opt.Answer})
		a := Attempt{At: time.Since(start).Round(time.Second), Answered: err == nil && pr.Received > 0}
		if a.Answered && len(pr.RTTs) > 0 {
			a.RTT = pr.RTTs[0]
		}
		if err != nil {
			log.Warn("ping", "err", err)
		}
		r.Attempts = append(r.Attempts, a)
		progress(fmt.Sprintf("  %-9s attempt %d/%d at %v: answered %v", sys, i+1, len(schedule), a.At, a.Answered))
	}
	// Count to the end of the run, as long for every system.
	select {
	case <-ctx.Done():
		r.Err = ctx.Err()
		return r
	case <-time.After(time.Until(start.Add(opt.Duration))):
	}
	after, err := readCounters(ctx, lab)
	if err != nil {
		r.Err = err
		return r
	}
	r.Elapsed = time.Since(start)
	r.Packets = after[0] - before[0]
	r.WireGuardPackets = after[1] - before[1]
	r.QUICPackets = after[2] - before[2]
	r.ProbePackets = after[3] - before[3]
	r.Keepalive = d.keepalive(ctx)
	for line := range strings.SplitSeq(d.logs(), "\n") {
		if strings.Contains(line, "idle probe") || strings.Contains(line, "keepalive") || strings.Contains(line, "NAT mapping") {
			r.Events = append(r.Events, line)
		}
	}
	return r
}

// deploy brings sys up in lab and returns the address cn pings.
func deploy(ctx context.Context, lab *netlab.Lab, opt Options, sys, dir string, log *slog.Logger) (*deployment, error) {
	switch sys {
	case HomeIP:
		h, err := handoverbench.StartHomeIP(ctx, lab, handoverbench.HomeIPOptions{Bin: opt.Bin, Dir: dir, Logger: log})
		if err != nil {
			return nil, err
		}
		return &deployment{
			target: h.VIP4,
			keepalive: func(ctx context.Context) time.Duration {
				st, err := h.Status(ctx)
				if err != nil {
					return 0
				}
				return time.Duration(st.KeepaliveS * float64(time.Second))
			},
			logs:  h.Logs,
			close: h.Close,
		}, nil
	case WireGuard:
		w, err := handoverbench.StartWireGuard(ctx, lab, opt.Bin, dir)
		if err != nil {
			return nil, err
		}
		return &deployment{
			target:    handoverbench.WGNode4,
			keepalive: func(context.Context) time.Duration { return handoverbench.WGKeepalive },
			logs:      func() string { return "" },
			close:     w.Close,
		}, nil
	}
	return nil, fmt.Errorf("idlebench: unknown system %q (homeip, wireguard)", sys)
}

// The counter of UDP packets leaving the device's Wi-Fi uplink.
const (
	nftTable = "hipidlebench"
	nftChain = "out"
)

func startCounter(ctx context.Context, lab *netlab.Lab) error {
	for _, args := range [][]string{
		{"add", "table", "inet", nftTable},
		{"add", "chain", "inet", nftTable, nftChain, "{ type filter hook output priority 0; policy accept; }"},
		{"add", "rule", "inet", nftTable, nftChain, "oifname", "wlan0", "meta", "l4proto", "udp", "counter"},
		{"add", "rule", "inet", nftTable, nftChain, "oifname", "wlan0", "meta", "l4proto", "udp", "@th,64,8", "1-4", "counter"},
		{"add", "rule", "inet", nftTable, nftChain, "oifname", "wlan0", "meta", "l4proto", "udp", "@th,64,8", "&", "0x40", "==", "0x40", "counter"},
		{"add", "rule", "inet", nftTable, nftChain, "oifname", "wlan0", "meta", "l4proto", "udp", "@th,64,8", "0x08", "counter"},
	} {
		if _, err := lab.MN.Run(ctx, "nft", args...); err != nil {
			return fmt.Errorf("idlebench: nftables counter on mn: %w", err)
		}
	}
	return nil
}

var counterRE = regexp.MustCompile(`counter packets (\d+) bytes`)

// readCounters returns the chain's four counters in order: all UDP,
// WireGuard, QUIC, idle probes.
func readCounters(ctx context.Context, lab *netlab.Lab) ([4]uint64, error) {
	var c [4]uint64
	out, err := lab.MN.Run(ctx, "nft", "list", "chain", "inet", nftTable, nftChain)
	if err != nil {
		return c, fmt.Errorf("idlebench: reading the counters: %w", err)
	}
	m := counterRE.FindAllStringSubmatch(out, -1)
	if len(m) != len(c) {
		return c, fmt.Errorf("idlebench: %d counters in %q, want %d", len(m), out, len(c))
	}
	for i := range c {
		if c[i], err = strconv.ParseUint(m[i][1], 10, 64); err != nil {
			return c, fmt.Errorf("idlebench: counter %q: %w", m[i][1], err)
		}
	}
	return c, nil
}

// WriteTable prints the result as a table.
func (r *Result) WriteTable(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "idle device behind a NAT with a %v UDP timeout; cn pings it %d times at random gaps of %v–%v over %v (seed %d)\n",
		o.NATTimeout, len(r.Schedule), o.MinGap, o.MaxGap, o.Duration, o.Seed)
	fmt.Fprintf(w, "%-10s %-10s %-14s %-12s %-26s %s\n", "system", "reachable", "packets sent", "packets/h", "of which WG/QUIC/probes", "keepalive at end")
	for _, s := range r.Systems {
		if s.Err != nil {
			fmt.Fprintf(w, "%-10s failed: %v\n", s.System, s.Err)
			continue
		}
		fmt.Fprintf(w, "%-10s %-10s %-14d %-12.0f %-26s %v\n", s.System,
			fmt.Sprintf("%d/%d", s.Answered(), len(s.Attempts)), s.Packets, s.PacketsPerHour(),
			fmt.Sprintf("%d/%d/%d", s.WireGuardPackets, s.QUICPackets, s.ProbePackets), s.Keepalive)
	}
}

// WriteEvents prints each system's keepalive events.
func (r *Result) WriteEvents(w io.Writer) {
	for _, s := range r.Systems {
		for _, e := range s.Events {
			fmt.Fprintf(w, "  %s: %s\n", s.System, e)
		}
	}
}
