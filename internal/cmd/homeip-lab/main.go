// Command homeip-lab drives the homeip network lab: it removes labs left
// behind by killed runs (clean), runs one end of a stream probe (stream),
// builds a lab for manual debugging (lab up / lab down), and runs the
// broken-stream baseline (baseline), the demo (demo) and the handover and
// throughput benchmarks (bench-handover, bench-throughput). Every lab it
// builds is torn down on exit, on SIGINT/SIGTERM and on panic.
//
// lab up, baseline, demo and bench-handover build their labs with the
// access networks that -profile (ideal, field, hotel, field-v6), -wifi,
// -cell (link profiles) and -nat-timeout describe; the default is the
// ideal lab (see netlab.Profile).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/tunnelbench"
)

// command is one subcommand. Each lives in its own file; commands lists
// them.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"clean":    cleanCmd,
	"stream":   streamCmd,
	"lab":      labCmd,
	"baseline": baselineCmd,
	"demo":     demoCmd,

	"bench-handover":   benchHandoverCmd,
	"bench-idle":       benchIdleCmd,
	"bench-throughput": benchThroughputCmd,
	"load":             loadCmd,
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the command ran and found a failure (e.g. a broken stream)
	exitUsage  = 2 // bad arguments or setup error
)

func main() {
	// bench-throughput re-executes this binary for its WireGuard devices.
	tunnelbench.ChildMain()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "homeip-lab: %v: stopping (again to force)\n", s)
		cancel()
		select {
		case <-sigs:
		case <-time.After(15 * time.Second):
		}
		_ = netlab.CloseAll()
		os.Exit(130)
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	cancel()
	if err := netlab.CloseAll(); err != nil {
		fmt.Fprintln(os.Stderr, "homeip-lab:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if p := recover(); p != nil {
			_ = netlab.CloseAll()
			panic(p)
		}
	}()
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "-help" {
		usage(stderr)
		return exitUsage
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "homeip-lab: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: homeip-lab COMMAND [flags]")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-17s %s\n", n, commands[n].summary)
	}
}
