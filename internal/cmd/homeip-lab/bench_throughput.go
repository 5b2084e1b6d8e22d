package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/homeip/homeip/internal/tunnelbench"
)

var benchThroughputCmd = command{
	summary: "TCP throughput: bare veth vs stock wireguard-go vs homeip's tunnel, as ratios",
	run:     runBenchThroughput,
}

func runBenchThroughput(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench-throughput", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt tunnelbench.Options
	fs.DurationVar(&opt.Duration, "duration", 5*time.Second, "length of each measurement")
	fs.IntVar(&opt.Streams, "streams", 1, "parallel TCP streams")
	fs.IntVar(&opt.Rounds, "rounds", 1, "alternate stock and homeip this many times and average")
	verbose := fs.Bool("v", false, "log each measurement")
	pathMTU := fs.Bool("path-mtu", false, "instead: over a 1280-byte link, homeip told the limit with SetPeerMTU vs an interface MTU set by hand")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "homeip-lab bench-throughput: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	opt.Logger = cliLogger(stderr, *verbose)
	fmt.Fprintf(stdout, "bench-throughput: %d stream(s), %v per path, %d round(s)…\n", opt.Streams, opt.Duration, opt.Rounds)
	if *pathMTU {
		res, err := tunnelbench.RunPathMTU(ctx, opt)
		if err != nil {
			fmt.Fprintln(stderr, "homeip-lab bench-throughput:", err)
			return exitFailed
		}
		fmt.Fprint(stdout, res.String())
		return exitOK
	}
	res, err := tunnelbench.Run(ctx, opt)
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab bench-throughput:", err)
		return exitFailed
	}
	fmt.Fprint(stdout, res.String())
	return exitOK
}
