package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/homeip/homeip/internal/handoverbench"
	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/streamprobe"
)

var demoCmd = command{
	summary: "the demo: a TCP stream to a device's VIP survives Wi-Fi → cellular → Wi-Fi (and breaks without homeip)",
	run:     runDemo,
}

// demoOptions configures the demo.
type demoOptions struct {
	BinDir   string        // ha and mnode; default this program's directory
	Dwell    time.Duration // streaming time on each network; default 3 s
	Interval time.Duration // between records; default 2 ms
	Baseline bool          // first show the stream breaking without homeip
}

// demoMove is one move of the demo and what it cost.
type demoMove struct {
	name  string // what happens
	short string // for the account
	at    time.Time
	do    func(context.Context) error
	pause time.Duration // live estimate (longest pause between reads)
	back  bool          // the stream flowed again afterwards
	st    handoverbench.NodeStatus
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt demoOptions
	fs.StringVar(&opt.BinDir, "bin", "", "directory holding ha and mnode (default: this program's directory)")
	fs.DurationVar(&opt.Dwell, "dwell", 3*time.Second, "how long to stream on each network")
	fs.DurationVar(&opt.Interval, "interval", 2*time.Millisecond, "interval between stream records")
	fs.BoolVar(&opt.Baseline, "baseline", true, "first show the same move breaking a stream without homeip")
	verbose := fs.Bool("v", false, "log lab operations")
	nf := addNetworkFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	network, err := nf.network()
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab demo:", err)
		return exitUsage
	}
	dir, err := binaryDir(opt.BinDir)
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab demo:", err)
		return exitUsage
	}
	bin := handoverbench.In(dir)
	if err := netlab.Check(); err != nil {
		fmt.Fprintln(stderr, "homeip-lab demo: this machine cannot build the lab:", err)
		return exitUsage
	}
	scratch, err := os.MkdirTemp("", "hipdemo")
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab demo:", err)
		return exitUsage
	}
	defer os.RemoveAll(scratch)

	out := stdout
	fmt.Fprintln(out, "homeip demo — a TCP session to a device's home address survives moves between networks")
	fmt.Fprintln(out)
	start := time.Now()
	lab, err := netlab.New(ctx, netlab.Options{Logger: cliLogger(stderr, *verbose), Network: network})
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab demo:", err)
		return exitUsage
	}
	defer lab.Close()
	fmt.Fprintf(out, "1. Lab %s built in %v: six network namespaces, veth links, nftables NAT.\n\n", lab.Prefix, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(out, "   [cn %v] --home LAN-- [ha %v] --+-- [wifi NAT %v] --wlan0-- [mn %v]\n", netlab.CN4, netlab.HAPublic4, netlab.WifiPublic4, netlab.MNWifiA4)
	fmt.Fprintf(out, "                                         +-- [carrier CGNAT %v]--[cell NAT]--wwan0-- [mn %v]\n\n", netlab.CarrierPublic4, netlab.MNCell4)
	if network != (netlab.Network{}) {
		fmt.Fprintf(out, "   Access networks (profile %s):\n", nf.profile)
		describeNetwork(out, "     ", network)
		fmt.Fprintln(out)
	}

	step := 2
	if opt.Baseline {
		fmt.Fprintf(out, "%d. Without homeip: cn streams to mn over plain routing (mn dialled out through the Wi-Fi NAT);\n", step)
		fmt.Fprintln(out, "   after 2 s mn walks out of Wi-Fi onto cellular.")
		bopt := baselineOptions{Interval: opt.Interval, Progress: out}
		bopt.defaults()
		c, err := baselineOnce(ctx, lab, streamprobe.RoleRecv, bopt)
		if err != nil {
			fmt.Fprintln(stderr, "homeip-lab demo:", err)
			return exitFailed
		}
		c.describe(out)
		fmt.Fprintln(out)
		step++
	}

	fmt.Fprintf(out, "%d. With homeip: the home agent in ha, the mobile node in mn.\n", step)
	step++
	h, err := handoverbench.StartHomeIP(ctx, lab, handoverbench.HomeIPOptions{
		Bin: bin, Dir: scratch, DeviceName: "phone",
		OnStep: func(s string) { fmt.Fprintln(out, "   ·", s) },
	})
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab demo: bringing homeip up:", err)
		return exitFailed
	}
	defer h.Close()
	fmt.Fprintf(out, "   The device's VIPs: %v and %v. They stay with it wherever it goes.\n\n", h.VIP4, h.VIP6)

	code := demoStream(ctx, out, h, opt, network, step)
	if err := h.Close(); err != nil {
		fmt.Fprintln(stderr, "homeip-lab demo: stopping homeip:", err)
	}
	if err := lab.Close(); err != nil {
		fmt.Fprintln(stderr, "homeip-lab demo: tearing down:", err)
		return exitFailed
	}
	fmt.Fprintf(out, "Lab %s torn down.\n", lab.Prefix)
	return code
}

// demoStream runs the stream across the two moves and prints the account.
func demoStream(ctx context.Context, out io.Writer, h *handoverbench.HomeIP, opt demoOptions, network netlab.Network, step int) int {
	lab := h.Lab
	fmt.Fprintf(out, "%d. cn opens a TCP connection to %v and streams a 256-byte record every %v, SHA-256 over\n", step, h.VIP4, opt.Interval)
	fmt.Fprintln(out, "   every byte; mn only receives (the case plain WireGuard roaming cannot handle).")
	spec := handoverbench.StreamSpec{
		Network: "tcp4", Source: h.VIP4, Interval: opt.Interval, IdleTimeout: 30 * time.Second,
	}
	if j := max(network.Wifi.Jitter, network.Cell.Jitter); j > 0 {
		// Jitter of ±j each way spreads arrivals over 4j: pauses that
		// short are the link, not a broken stream.
		spec.GapThreshold = max(3*opt.Interval, 5*time.Millisecond) + 4*j
	}
	s, err := handoverbench.StartStream(ctx, lab, spec)
	if err != nil {
		fmt.Fprintln(out, "   could not open the stream:", err)
		return exitFailed
	}
	defer s.Abort()
	fmt.Fprintf(out, "   cn sees the connection coming from %v — the VIP, not a NAT's address.\n", s.PeerSeen)
	began := time.Now()
	moves := []*demoMove{
		{name: "Wi-Fi → cellular (wlan0 loses its address and goes down; wwan0 comes up behind two NATs)", short: "Wi-Fi → cellular", do: lab.MoveToCell},
		{name: "cellular → Wi-Fi (wwan0 goes away; wlan0 comes back)", short: "cellular → Wi-Fi", do: lab.MoveToWifi},
	}
	live := func(d time.Duration) error { return demoLive(ctx, out, h, s, began, d) }
	if err := live(opt.Dwell); err != nil {
		return exitFailed
	}
	for i, m := range moves {
		fmt.Fprintf(out, "   >>> move %d: %s\n", i+1, m.name)
		s.ResetMaxPause()
		m.at = time.Now()
		if err := m.do(ctx); err != nil {
			fmt.Fprintln(out, "   the lab failed to move the node:", err)
			return exitFailed
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := s.WaitFlowing(wctx, m.at, 100*time.Millisecond)
		cancel()
		if err != nil {
			fmt.Fprintf(out, "   !!! the stream did not resume within 20 s: %v\n", err)
			break
		}
		m.back, m.pause = true, s.MaxPause()
		m.st, _ = h.Status(ctx)
		fmt.Fprintf(out, "   <<< delivery resumed; longest pause %.0f ms. mnode: primary %s, care-of %v, handover %.0f ms\n",
			ms(m.pause), m.st.Interface, m.st.CareOf, m.st.LastHandoverMs)
		if err := live(opt.Dwell); err != nil {
			break
		}
	}
	r := s.Stop(5 * time.Second)
	st, stErr := h.Status(ctx)
	return demoAccount(out, h, r, moves, st, stErr, step+1)
}

// demoLive prints a progress line every 500 ms for d.
func demoLive(ctx context.Context, out io.Writer, h *handoverbench.HomeIP, s *handoverbench.Stream, began time.Time, d time.Duration) error {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(d)
	prevBytes, prevAt := s.Received(), time.Now()
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			st, err := h.Status(ctx)
			now := time.Now()
			link := st.Interface
			if err != nil {
				link = "?"
			}
			b := s.Received()
			rate := float64(b-prevBytes) * 8 / now.Sub(prevAt).Seconds() / 1000
			prevBytes, prevAt = b, now
			fmt.Fprintf(out, "   t=%5.1fs  mn on %-5s  delivered %8.1f KB  %6.0f kbit/s  last record %4.0f ms ago\n",
				now.Sub(began).Seconds(), link, float64(b)/1000, rate, ms(now.Sub(s.LastArrival())))
		}
	}
	return nil
}

// demoAccount prints the readable summary and returns the exit code.
func demoAccount(out io.Writer, h *handoverbench.HomeIP, r handoverbench.StreamResult, moves []*demoMove, st handoverbench.NodeStatus, stErr error, step int) int {
	fmt.Fprintf(out, "\n%d. What happened:\n", step)
	vipsKept := stErr == nil && st.VIP4 == h.VIP4 && st.VIP6 == h.VIP6
	kept := "unchanged throughout"
	if !vipsKept {
		kept = fmt.Sprintf("CHANGED: now %v and %v (%v)", st.VIP4, st.VIP6, stErr)
	}
	fmt.Fprintf(out, "   VIPs             %v and %v, %s\n", h.VIP4, h.VIP6, kept)
	for i, m := range moves {
		if m.at.IsZero() {
			continue
		}
		gap := "did not resume"
		if m.back {
			until := time.Now()
			if i+1 < len(moves) && !moves[i+1].at.IsZero() {
				until = moves[i+1].at
			}
			g, _, ok := r.GapAfter(m.at.Add(-30*time.Millisecond), until)
			if ok {
				gap = fmt.Sprintf("gap %.1f ms in delivery", g)
			} else if r.Recv != nil {
				gap = fmt.Sprintf("no pause over %.0f ms in delivery", r.Recv.GapThresholdMS)
			}
		}
		fmt.Fprintf(out, "   move %d           %-18s %s\n", i+1, m.short, gap)
	}
	if r.Send != nil && r.Recv != nil {
		fmt.Fprintf(out, "   bytes            cn sent %d, mn received %d (%d records)\n", r.Send.Bytes, r.Recv.Bytes, r.Recv.Records)
		match := "MISMATCH"
		if r.Send.SHA256 == r.Recv.SHA256 && r.Recv.Verified {
			match = "match"
		}
		fmt.Fprintf(out, "   SHA-256          %.16s… sent, %.16s… received: %s\n", r.Send.SHA256, r.Recv.SHA256, match)
		fmt.Fprintf(out, "   resets           %d\n", r.Send.Resets+r.Recv.Resets)
	}
	err := r.Err()
	for i, m := range moves {
		if err == nil && !m.back {
			// The stream may have caught up after the demo gave up on
			// the move: intact, but not the handover the demo shows.
			err = fmt.Errorf("delivery did not resume within 20 s of move %d", i+1)
		}
	}
	if err == nil && vipsKept {
		fmt.Fprintln(out, "   → The same TCP connection, to the same address, came through both moves intact.")
		fmt.Fprintln(out)
		return exitOK
	}
	if err == nil {
		err = errors.New("VIPs changed")
	}
	fmt.Fprintln(out, "   → FAILED:", err)
	fmt.Fprintln(out, h.Logs())
	return exitFailed
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
