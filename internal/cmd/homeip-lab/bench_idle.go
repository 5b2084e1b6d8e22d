package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/homeip/homeip/internal/handoverbench"
	"github.com/homeip/homeip/internal/idlebench"
	"github.com/homeip/homeip/internal/netlab"
)

var benchIdleCmd = command{
	summary: "idle device behind a 30 s NAT reached at random intervals: reachability and packets/hour, homeip vs plain WireGuard",
	run:     runBenchIdle,
}

func runBenchIdle(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench-idle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt idlebench.Options
	fs.DurationVar(&opt.Duration, "duration", 6*time.Minute, "how long cn makes attempts")
	fs.DurationVar(&opt.MinGap, "min-gap", 35*time.Second, "shortest interval between attempts")
	fs.DurationVar(&opt.MaxGap, "max-gap", 90*time.Second, "longest interval between attempts")
	fs.DurationVar(&opt.NATTimeout, "nat-timeout", 30*time.Second, "every NAT's UDP timeout")
	fs.Uint64Var(&opt.Seed, "seed", 0, "seed of the attempt schedule (0: random)")
	systems := fs.String("systems", idlebench.HomeIP+","+idlebench.WireGuard, "systems to compare")
	binDir := fs.String("bin", "", "directory holding ha, mnode and wireguard-go (default: this program's directory)")
	verbose := fs.Bool("v", false, "log lab and deployment operations")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "homeip-lab bench-idle: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	for _, s := range strings.Split(*systems, ",") {
		opt.Systems = append(opt.Systems, strings.TrimSpace(s))
	}
	dir, err := binaryDir(*binDir)
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab bench-idle:", err)
		return exitUsage
	}
	opt.Bin = handoverbench.In(dir)
	opt.Logger = cliLogger(stderr, *verbose)
	opt.Progress = stdout
	if err := netlab.Check(); err != nil {
		fmt.Fprintln(stderr, "homeip-lab bench-idle: this machine cannot build the lab:", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "bench-idle: %s for %v, attempts every %v–%v, NAT UDP timeout %v (binaries in %s)\n",
		*systems, opt.Duration, opt.MinGap, opt.MaxGap, opt.NATTimeout, dir)
	res, err := idlebench.Run(ctx, opt)
	fmt.Fprintln(stdout)
	res.WriteTable(stdout)
	if *verbose {
		fmt.Fprintln(stdout)
		res.WriteEvents(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab bench-idle:", err)
		return exitFailed
	}
	for _, s := range res.Systems {
		if s.Answered() != len(s.Attempts) {
			return exitFailed
		}
	}
	return exitOK
}
