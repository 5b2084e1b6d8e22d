package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/homeip/homeip/internal/netlab"
)

var demoCmd = command{
	summary: "the demo: build the lab and show a live stream across moves (for now: the broken-stream baseline)",
	run:     runDemo,
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "log lab operations")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	fmt.Fprintln(stdout, "homeip demo — the problem homeip solves")
	fmt.Fprintln(stdout, "")
	if err := netlab.Check(); err != nil {
		fmt.Fprintln(stderr, "homeip-lab demo: this machine cannot build the lab:", err)
		return exitUsage
	}
	start := time.Now()
	lab, err := netlab.New(ctx, netlab.Options{Logger: cliLogger(stderr, *verbose)})
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab demo:", err)
		return exitUsage
	}
	defer lab.Close()
	fmt.Fprintf(stdout, "1. Lab %s built in %v: six network namespaces, veth links, nftables NAT.\n", lab.Prefix, time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, "")
	fmt.Fprintf(stdout, "   [cn %v] --home LAN-- [ha %v] --+-- [wifi NAT %v] --wlan0-- [mn %v]\n", netlab.CN4, netlab.HAPublic4, netlab.WifiPublic4, netlab.MNWifiA4)
	fmt.Fprintf(stdout, "                                          +-- [carrier CGNAT %v]--[cell NAT]--wwan0-- [mn %v]\n", netlab.CarrierPublic4, netlab.MNCell4)
	fmt.Fprintln(stdout, "")
	fmt.Fprintln(stdout, "2. Without homeip: a TCP stream (1 record/ms, SHA-256 over every byte) between cn and mn")
	fmt.Fprintln(stdout, "   over plain routing; after 2 s mn walks out of Wi-Fi onto cellular.")
	fmt.Fprintln(stdout, "")
	cases, err := runBaseline(ctx, lab, baselineOptions{Progress: stdout})
	fmt.Fprintln(stdout, "")
	fmt.Fprintln(stdout, "3. Result:")
	for _, c := range cases {
		c.describe(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab demo:", err)
		return exitFailed
	}
	fmt.Fprintln(stdout, "")
	fmt.Fprintln(stdout, "   With homeip, mn keeps one virtual address and its home agent re-points the tunnel,")
	fmt.Fprintln(stdout, "   so the same stream would continue across the move.")
	fmt.Fprintln(stdout, "")
	if err := lab.Close(); err != nil {
		fmt.Fprintln(stderr, "homeip-lab demo: tearing down:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "4. Lab %s torn down.\n", lab.Prefix)
	return exitOK
}
