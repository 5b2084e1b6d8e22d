package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/streamprobe"
)

var baselineCmd = command{
	summary: "show that a plain TCP stream through the NATs breaks when mn moves Wi-Fi → cellular",
	run:     runBaselineCmd,
}

// baselineOptions configures the broken-stream baseline.
type baselineOptions struct {
	Interval time.Duration // between records; default 1 ms
	Before   time.Duration // streaming before the move; default 2 s
	Idle     time.Duration // no data this long after the move = broken; default 3 s
	// Progress receives live progress lines; nil for none.
	Progress io.Writer
	// ProgressEvery is the progress line interval; default 500 ms.
	ProgressEvery time.Duration
}

func (o *baselineOptions) defaults() {
	if o.Interval == 0 {
		o.Interval = time.Millisecond
	}
	if o.Before == 0 {
		o.Before = 2 * time.Second
	}
	if o.Idle == 0 {
		o.Idle = 3 * time.Second
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = 500 * time.Millisecond
	}
}

// baselineCase is one run of the baseline: mn receiving or sending.
type baselineCase struct {
	MNRole   streamprobe.Role
	Observed netip.AddrPort // mn as cn saw it (the Wi-Fi NAT's mapping)
	MovedAt  time.Time      // when the move began
	// LastData is when the receiver got its last record (zero if none).
	LastData time.Time
	// Broke is true when the stream stopped for good after the move;
	// DetectedAfter is when the first end gave up, relative to the move.
	Broke         bool
	DetectedAfter time.Duration
	Sender        *streamprobe.Report
	Receiver      *streamprobe.Report
	SendErr       error
	RecvErr       error
}

// runBaseline streams between cn and mn with plain routing (no homeip)
// twice, once with mn receiving and once with mn sending. mn dials cn
// (cn cannot dial into the NAT); after opt.Before mn moves from Wi-Fi to
// cellular. It returns when each stream has broken (or, which would be a
// surprise, survived opt.Idle+2s past the move) and leaves mn on Wi-Fi.
func runBaseline(ctx context.Context, lab *netlab.Lab, opt baselineOptions) ([]baselineCase, error) {
	opt.defaults()
	var out []baselineCase
	for _, role := range []streamprobe.Role{streamprobe.RoleRecv, streamprobe.RoleSend} {
		c, err := baselineOnce(ctx, lab, role, opt)
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

func baselineOnce(ctx context.Context, lab *netlab.Lab, mnRole streamprobe.Role, opt baselineOptions) (baselineCase, error) {
	res := baselineCase{MNRole: mnRole}
	if err := lab.MoveToWifi(ctx); err != nil {
		return res, err
	}
	ln, err := lab.CN.Listen(ctx, "tcp", netip.AddrPortFrom(netlab.CN4, 0).String())
	if err != nil {
		return res, fmt.Errorf("listening in cn: %w", err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := streamprobe.Accept(ctx, ln)
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	mnConn, err := lab.MN.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		<-accepted
		return res, fmt.Errorf("mn dialling cn through Wi-Fi: %w", err)
	}
	defer mnConn.Close()
	cnConn := <-accepted
	if cnConn == nil {
		return res, errors.New("cn accepted no connection")
	}
	defer cnConn.Close()
	res.Observed = netip.MustParseAddrPort(cnConn.RemoteAddr().String())

	streamCtx, stop := context.WithCancel(ctx)
	defer stop()
	cfg := streamprobe.Config{Interval: opt.Interval, IdleTimeout: opt.Idle, GapThreshold: 50 * time.Millisecond}
	rcfg := cfg
	if opt.Progress != nil {
		label := "   mn "
		if mnRole == streamprobe.RoleSend {
			label = "   cn "
		}
		rcfg.ProgressInterval = opt.ProgressEvery
		rcfg.Progress = func(p streamprobe.Progress) { fmt.Fprintln(opt.Progress, progressLine(label, p)) }
	}
	sendConn, recvConn := cnConn, mnConn
	if mnRole == streamprobe.RoleSend {
		sendConn, recvConn = mnConn, cnConn
	}
	firstEnd := make(chan time.Time, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		res.Sender, res.SendErr = streamprobe.Send(streamCtx, sendConn, cfg)
		firstEnd <- time.Now()
	})
	wg.Go(func() {
		res.Receiver, res.RecvErr = streamprobe.Receive(streamCtx, recvConn, rcfg)
		firstEnd <- time.Now()
	})

	var ended time.Time
	timer := time.NewTimer(opt.Before)
	select {
	case ended = <-firstEnd: // the stream failed before any move
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	if ended.IsZero() && ctx.Err() == nil {
		if opt.Progress != nil {
			fmt.Fprintf(opt.Progress, "   >>> mn moves: wlan0 (%v) goes away, wwan0 (%v, behind two NATs) comes up\n", netlab.MNWifiA4, netlab.MNCell4)
		}
		res.MovedAt = time.Now()
		if err := lab.MoveToCell(ctx); err != nil {
			stop()
			wg.Wait()
			return res, err
		}
		bound := time.NewTimer(opt.Idle + 2*time.Second)
		select {
		case ended = <-firstEnd:
		case <-bound.C:
		case <-ctx.Done():
		}
		bound.Stop()
	}
	stop()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if r := res.Receiver; r != nil && r.Records > 0 {
		res.LastData = r.End
		if n := len(r.Gaps); n > 0 && r.Gaps[n-1].Open {
			res.LastData = r.Gaps[n-1].Start
		}
	}
	if !res.MovedAt.IsZero() && !ended.IsZero() {
		res.Broke = true
		res.DetectedAfter = ended.Sub(res.MovedAt)
	}
	if err := lab.MoveToWifi(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// describe writes a readable account of one baseline case.
func (c baselineCase) describe(w io.Writer) {
	who := "cn → mn (mn receiving)"
	if c.MNRole == streamprobe.RoleSend {
		who = "mn → cn (mn sending)"
	}
	fmt.Fprintf(w, "  stream %s, TCP, mn dialled cn %v from %v; cn saw it as %v (the Wi-Fi NAT)\n",
		who, netlab.CN4, netlab.MNWifiA4, c.Observed)
	if !c.MovedAt.IsZero() && !c.LastData.IsZero() {
		fmt.Fprintf(w, "    last record arrived %+.0f ms after the move began; nothing after that\n", float64(c.LastData.Sub(c.MovedAt))/float64(time.Millisecond))
	}
	for _, r := range []struct {
		name string
		rep  *streamprobe.Report
		err  error
	}{{"sender  ", c.Sender, c.SendErr}, {"receiver", c.Receiver, c.RecvErr}} {
		if r.rep == nil {
			continue
		}
		status := "stopped by the demo once the stream was declared broken"
		if r.err != nil {
			status = r.err.Error()
		}
		fmt.Fprintf(w, "    %s: %d records, %d bytes, sha256 %.16s…, %s\n", r.name, r.rep.Records, r.rep.Bytes, r.rep.SHA256, status)
	}
	if c.Broke {
		fmt.Fprintf(w, "    BROKEN: %.1fs after the move the stream was given up (no progress for the idle limit).\n", c.DetectedAfter.Seconds())
		fmt.Fprintf(w, "    Why: the connection is bound to %v and to the NAT mapping %v; after the move mn's\n", netlab.MNWifiA4, c.Observed)
		fmt.Fprintf(w, "    packets leave from %v behind two other NATs, and nothing re-points cn's peer.\n", netlab.MNCell4)
	} else {
		fmt.Fprintln(w, "    NOT BROKEN: the stream survived the move (unexpected without homeip)")
	}
}

func runBaselineCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt baselineOptions
	fs.DurationVar(&opt.Interval, "interval", time.Millisecond, "interval between records")
	fs.DurationVar(&opt.Before, "before", 2*time.Second, "how long to stream before the move")
	fs.DurationVar(&opt.Idle, "idle", 3*time.Second, "no progress this long after the move counts as broken")
	verbose := fs.Bool("v", false, "log lab operations")
	nf := addNetworkFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	network, err := nf.network()
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab baseline:", err)
		return exitUsage
	}
	opt.Progress = stdout
	if err := netlab.Check(); err != nil {
		fmt.Fprintln(stderr, "homeip-lab baseline:", err)
		return exitUsage
	}
	lab, err := netlab.New(ctx, netlab.Options{Logger: cliLogger(stderr, *verbose), Network: network})
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab baseline:", err)
		return exitUsage
	}
	defer lab.Close()
	fmt.Fprintf(stdout, "lab %s up\n", lab.Prefix)
	cases, err := runBaseline(ctx, lab, opt)
	for _, c := range cases {
		c.describe(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab baseline:", err)
		return exitFailed
	}
	for _, c := range cases {
		if !c.Broke {
			return exitFailed
		}
	}
	return exitOK
}

func cliLogger(w io.Writer, verbose bool) *slog.Logger {
	if !verbose {
		return nil
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
