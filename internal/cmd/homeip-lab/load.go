package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"time"
)

// loadCmd plays many devices against a live home agent; see runLoad and
// loadRun.play for what each device does.
var loadCmd = command{
	summary: "N devices against a live ha over QUIC: binding updates/s, latency, memory per device, admin API latency",
	run:     runLoadCmd,
}

func runLoadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadConfig
	fs.IntVar(&cfg.Devices, "devices", 200, "devices played")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured phase, after every device registered")
	fs.IntVar(&cfg.Window, "window", 16, "binding updates a device has in flight at once (each acknowledged)")
	fs.Float64Var(&cfg.MovePct, "move", 1, "percent of a device's turns that are a move (new source port, new connection, register, update)")
	fs.Float64Var(&cfg.HeartbeatPct, "heartbeat", 5, "percent of turns that are a heartbeat")
	fs.Float64Var(&cfg.ExpirePct, "expire", 0.2, "percent of turns that let the binding expire (1 s lifetime), then register and bind again")
	fs.Float64Var(&cfg.RevokePct, "revoke", 2, "percent of the devices revoked during the run")
	fs.Float64Var(&cfg.Rate, "rate", 0, "binding updates per second offered by all devices together (0: as many as ha takes)")
	fs.IntVar(&cfg.Setup, "setup", 8, "devices enrolled and registered at once before the measured phase")
	binDir := fs.String("bin", "", "directory holding ha (default: this program's directory)")
	verbose := fs.Bool("v", false, "log lab operations")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "homeip-lab load: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	dir, err := binaryDir(*binDir)
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab load:", err)
		return exitUsage
	}
	cfg.HA = dir + "/ha"
	cfg.Logger = cliLogger(stderr, *verbose)
	offered := "as many binding updates as ha takes"
	if cfg.Rate > 0 {
		offered = fmt.Sprintf("%.0f binding updates/s offered", cfg.Rate)
	}
	fmt.Fprintf(stdout, "load: %d devices from cn against ha (QUIC on %v), %v measured, %s, window %d, mix: %.3g%% moves, %.3g%% heartbeats, %.3g%% expiries, the rest update bursts; %.3g%% of the devices revoked\n",
		cfg.Devices, loadPort, cfg.Duration, offered, cfg.Window, cfg.MovePct, cfg.HeartbeatPct, cfg.ExpirePct, cfg.RevokePct)
	res, err := runLoad(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	writeLoadTable(stdout, res)
	if res.Accepted == 0 || res.Errors > 0 {
		return exitFailed
	}
	return exitOK
}

// writeLoadTable prints what a run measured.
func writeLoadTable(w io.Writer, r *loadResult) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	perDev := func(loaded, base float64) string {
		if r.Connected == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", (loaded-base)/float64(r.Connected))
	}
	fmt.Fprintf(w, "\n%-38s %s\n", "devices enrolled+registered", fmt.Sprintf("%d in %v", r.Devices, r.EnrolTime.Round(time.Millisecond)))
	fmt.Fprintf(w, "%-38s %d (%d revoked)\n", "devices connected at the end", r.Connected, r.Revoked)
	fmt.Fprintf(w, "%-38s %v\n", "measured", r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "%-38s %.0f /s (%d accepted by ha's metrics; %d acked to devices)\n", "binding updates through ha", r.BUPerSecond(), r.Accepted, r.ClientAcked)
	if r.Elapsed > 0 {
		perK := "-"
		if r.Accepted > 0 {
			perK = fmt.Sprintf("%.1f ms", float64(r.HACPU)/float64(time.Millisecond)/float64(r.Accepted)*1000)
		}
		fmt.Fprintf(w, "%-38s ha %.2f cores (%s per 1000 accepted updates), generator %.2f cores\n", "CPU in the measured phase",
			r.HACPU.Seconds()/r.Elapsed.Seconds(), perK, r.GenCPU.Seconds()/r.Elapsed.Seconds())
	}
	fmt.Fprintf(w, "%-38s ha's namespace %d, cn's %d\n", "UDP receive-buffer drops", r.RcvbufDropsHA, r.RcvbufDropsCN)
	fmt.Fprintf(w, "%-38s p50 %s  p90 %s  p99 %s  max %s  (n=%d)\n", "binding update latency (send→ack)",
		ms(percentile(r.BULatency, 50)), ms(percentile(r.BULatency, 90)), ms(percentile(r.BULatency, 99)), ms(percentile(r.BULatency, 100)), len(r.BULatency))
	fmt.Fprintf(w, "%-38s p50 %s  p99 %s  (n=%d)\n", "move latency (dial→ack of the update)",
		ms(percentile(r.MoveLatency, 50)), ms(percentile(r.MoveLatency, 99)), len(r.MoveLatency))
	fmt.Fprintf(w, "%-38s moves %d, heartbeats %d, expiries+re-registrations %d, revocations %d (seen by devices %d)\n", "turns", r.Moves, r.Heartbeats, r.Expiries, r.Revoked, r.RevokeSeen)
	if len(r.Refused) > 0 {
		keys := make([]string, 0, len(r.Refused))
		for k := range r.Refused {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "%-38s", "updates refused")
		for _, k := range keys {
			fmt.Fprintf(w, " %s %d", k, r.Refused[k])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%-38s p50 %s  p99 %s  (n=%d)\n", "admin: ha device list (wall time)", ms(percentile(r.DevicesList, 50)), ms(percentile(r.DevicesList, 99)), len(r.DevicesList))
	fmt.Fprintf(w, "%-38s p50 %s  p99 %s  (n=%d)\n", "admin: ha binding list (wall time)", ms(percentile(r.BindingsList, 50)), ms(percentile(r.BindingsList, 99)), len(r.BindingsList))
	fmt.Fprintf(w, "%-38s p50 %s  p99 %s  (n=%d)\n", "  of which starting a process (ha alone)", ms(percentile(r.ProcessStart, 50)), ms(percentile(r.ProcessStart, 99)), len(r.ProcessStart))
	fmt.Fprintf(w, "%-38s %.1f MiB idle → %.1f MiB loaded: %s KiB per connected device\n", "ha RSS (/proc)",
		float64(r.RSSBase)/(1<<20), float64(r.RSSLoaded)/(1<<20), perDev(float64(r.RSSLoaded)/1024, float64(r.RSSBase)/1024))
	fmt.Fprintf(w, "%-38s %.0f idle → %.0f loaded (%.0f control connections): %s per connected device; threads %d → %d\n", "ha goroutines (metrics)",
		r.GoroutinesBase, r.GoroutinesLoaded, r.ConnsLoaded, perDev(r.GoroutinesLoaded, r.GoroutinesBase), r.ThreadsBase, r.ThreadsLoaded)
	fmt.Fprintf(w, "%-38s %.0f at the start → %.0f at the end\n", "bindings kept for restarts", r.BindingsKeptStarted, r.BindingsKept)
	if r.Errors > 0 {
		fmt.Fprintf(w, "%-38s %d (first: %s)\n", "errors", r.Errors, r.FirstError)
	}
	if r.HAExitErr != nil {
		fmt.Fprintf(w, "%-38s %v\n", "ha exit", r.HAExitErr)
	}
}
