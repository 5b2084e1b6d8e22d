package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/homeip/homeip/internal/netlab"
)

var labCmd = command{
	summary: "lab up [-prefix P] [-detach] [-profile NAME] [-wifi L] [-cell L] | lab down -prefix P: build or remove a lab by hand",
	run:     runLab,
}

func runLab(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: homeip-lab lab up [-prefix P] [-detach] [-profile NAME] [-wifi L] [-cell L] [-nat-timeout D] | lab down -prefix P")
		return exitUsage
	}
	fs := flag.NewFlagSet("lab "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	prefix := fs.String("prefix", "", "lab prefix (hip + up to 17 of [a-z0-9]); default random for up")
	detach := fs.Bool("detach", false, "up: leave the lab running and exit (remove it with lab down or clean)")
	verbose := fs.Bool("v", false, "log lab operations")
	nf := addNetworkFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	switch args[0] {
	case "up":
		if err := netlab.Check(); err != nil {
			fmt.Fprintln(stderr, "homeip-lab lab up:", err)
			return exitUsage
		}
		network, err := nf.network()
		if err != nil {
			fmt.Fprintln(stderr, "homeip-lab lab up:", err)
			return exitUsage
		}
		if *detach && (network.Wifi.Delay > 0 || network.Cell.Delay > 0) {
			// The delay relay lives in this process: a detached lab
			// would lose its delay the moment we exit.
			fmt.Fprintln(stderr, "homeip-lab lab up: -detach cannot keep link delay (the delay relay runs in this process); run without -detach, or use -wifi/-cell profiles without delay")
			return exitUsage
		}
		lab, err := netlab.New(ctx, netlab.Options{Prefix: *prefix, Logger: cliLogger(stderr, *verbose), Network: network})
		if err != nil {
			fmt.Fprintln(stderr, "homeip-lab lab up:", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "lab %s up:\n", lab.Prefix)
		describeNetwork(stdout, "  ", network)
		for _, n := range lab.Nodes() {
			fmt.Fprintf(stdout, "  %-8s ip netns exec %s ...\n", n.Role, n.NS)
		}
		if *detach {
			// Forget the lab without closing it; its owner (this
			// process) is about to exit, so clean will remove it.
			fmt.Fprintf(stdout, "remove with: homeip-lab lab down -prefix %s\n", lab.Prefix)
			netlab.Detach(lab)
			return exitOK
		}
		fmt.Fprintln(stdout, "press Ctrl-C to tear it down")
		<-ctx.Done()
		if err := lab.Close(); err != nil {
			fmt.Fprintln(stderr, "homeip-lab lab up:", err)
			return exitFailed
		}
		return exitOK
	case "down":
		if *prefix == "" {
			fmt.Fprintln(stderr, "homeip-lab lab down: -prefix is required")
			return exitUsage
		}
		removed, err := netlab.CleanAll(ctx, *prefix+"-")
		for _, ns := range removed {
			fmt.Fprintln(stdout, "removed", ns)
		}
		if err != nil {
			fmt.Fprintln(stderr, "homeip-lab lab down:", err)
			return exitFailed
		}
		return exitOK
	}
	fmt.Fprintf(stderr, "homeip-lab lab: unknown action %q (up or down)\n", args[0])
	return exitUsage
}
