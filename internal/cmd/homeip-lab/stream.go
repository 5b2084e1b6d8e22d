package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/homeip/homeip/internal/streamprobe"
)

var streamCmd = command{
	summary: "run one end of a stream probe; JSON report on stdout, progress on stderr",
	run:     runStream,
}

func runStream(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "recv", "send or recv")
	listen := fs.String("listen", "", "address to accept the peer on (host:port)")
	connect := fs.String("connect", "", "address to dial (host:port)")
	udp := fs.Bool("udp", false, "use UDP instead of TCP")
	interval := fs.Duration("interval", 10*time.Millisecond, "interval between records (sender)")
	size := fs.Int("size", 256, "record size in bytes, header included (sender)")
	duration := fs.Duration("duration", 0, "how long to send; 0 = until SIGINT/SIGTERM (sender)")
	gap := fs.Duration("gap", 0, "report delivery gaps longer than this (default 10×interval, ≥20ms)")
	idle := fs.Duration("idle", 5*time.Second, "give up after no progress for this long (negative: never)")
	progress := fs.Duration("progress", time.Second, "progress line interval on stderr (0: none)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "homeip-lab stream: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	ep := streamprobe.Endpoint{Role: streamprobe.Role(*role), Network: "tcp", Listen: *listen, Connect: *connect}
	if *udp {
		ep.Network = "udp"
	}
	cfg := streamprobe.Config{
		Interval: *interval, RecordSize: *size, Duration: *duration,
		GapThreshold: *gap, IdleTimeout: *idle,
	}
	if *progress > 0 {
		cfg.ProgressInterval = *progress
		cfg.Progress = func(p streamprobe.Progress) { fmt.Fprintln(stderr, progressLine("", p)) }
	}
	rep, err := streamprobe.Run(ctx, ep, cfg)
	if rep == nil {
		fmt.Fprintln(stderr, "homeip-lab stream:", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s\n", rep.JSON())
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "homeip-lab stream:", err)
	}
	if rep.Broken() {
		return exitFailed
	}
	return exitOK
}

// progressLine formats a progress snapshot for humans.
func progressLine(label string, p streamprobe.Progress) string {
	state := "flowing"
	switch {
	case p.Done:
		state = "done"
	case p.SinceLast > time.Second:
		state = "STALLED"
	}
	since := max(p.SinceLast, 0)
	return fmt.Sprintf("%s%-4s t=%6.1fs %8d records %9.1f kB %7.2f Mbit/s  last %6.0f ms ago  gaps %d (max %.0f ms)  %s",
		label, p.Role, p.Elapsed.Seconds(), p.Records, float64(p.Bytes)/1000, p.RateBps/1e6,
		float64(since)/float64(time.Millisecond), p.Gaps, float64(p.MaxGap)/float64(time.Millisecond), state)
}
