package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/client/controlapi"
)

// socketPath returns the control socket for a state directory without
// creating or checking the directory (status and down only read).
func socketPath(stateDir, override string) (string, error) {
	if override != "" {
		return override, nil
	}
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return "", err
	}
	return filepath.Join(abs, "mnode.sock"), nil
}

func cmdStatus(args []string) error {
	fset := flag.NewFlagSet("mnode status", flag.ContinueOnError)
	stateDir := fset.String("state-dir", defaultStateDir, "state directory of the node")
	statusSocket := fset.String("status-socket", "", "control socket (default STATE-DIR/mnode.sock)")
	asJSON := fset.Bool("json", false, "print JSON")
	pos, err := parseArgs(fset, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("status: unexpected argument %q", pos[0])}
	}
	sock, err := socketPath(*stateDir, *statusSocket)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := controlapi.QueryStatus(ctx, sock)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(w, "%s:\t%v\n", k, v) }
	row("state", st.State)
	row("device", fmt.Sprintf("%s (%s)", st.DeviceName, st.DeviceID))
	row("vip4", orNone(st.VIP4.IsValid(), st.VIP4))
	row("vip6", orNone(st.VIP6.IsValid(), st.VIP6))
	row("tunnel", st.TunnelInterface)
	row("home agent", orNone(st.HomeAgent.IsValid(), st.HomeAgent))
	row("care-of", orNone(st.CareOf.IsValid(), st.CareOf))
	link := "-"
	if st.Interface != "" {
		link = fmt.Sprintf("%s (%s, local %v)", st.Interface, st.InterfaceKind, st.Local)
	}
	row("interface", link)
	if st.Standby != "" {
		row("standby", st.Standby)
	}
	row("path rtt", fmt.Sprintf("%.1f ms", st.RTTms))
	if st.PathMTU > 0 {
		row("path mtu", fmt.Sprintf("%d (%s)", st.PathMTU, st.PathMTUSource))
	}
	learned := "learning"
	if st.KeepaliveLearned {
		learned = "learned"
	}
	row("keepalive", fmt.Sprintf("%.0f s (%s)", st.KeepaliveS, learned))
	row("binding", fmt.Sprintf("seq %d, lifetime %.0f s", st.Seq, st.LifetimeS))
	ho := "none"
	if st.Handovers > 0 {
		ho = fmt.Sprintf("%d, last %s ago took %.1f ms (%s)", st.Handovers, time.Since(st.LastHandoverAt).Round(time.Second), st.LastHandoverMs, st.LastHandoverReason)
	}
	row("handovers", ho)
	row("stall probes", fmt.Sprintf("%d (%d false alarms)", st.StallProbes, st.StallFalseAlarms))
	row("nat rebindings", st.NATRebinds)
	row("reconnects", st.Reconnects)
	if st.LastError != "" {
		row("last error", st.LastError)
	}
	row("up since", st.Since.Local().Format(time.RFC3339))
	return w.Flush()
}

func orNone(ok bool, v any) any {
	if !ok {
		return "-"
	}
	return v
}

func cmdDown(args []string) error {
	fset := flag.NewFlagSet("mnode down", flag.ContinueOnError)
	stateDir := fset.String("state-dir", defaultStateDir, "state directory of the node")
	statusSocket := fset.String("status-socket", "", "control socket (default STATE-DIR/mnode.sock)")
	wait := fset.Duration("wait", 15*time.Second, "how long to wait for the node to stop")
	pos, err := parseArgs(fset, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("down: unexpected argument %q", pos[0])}
	}
	sock, err := socketPath(*stateDir, *statusSocket)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := controlapi.RequestDown(ctx, sock); err != nil {
		return err
	}
	// Wait until the node has deregistered and let go of its socket.
	deadline := time.Now().Add(*wait)
	for time.Now().Before(deadline) {
		qctx, qcancel := context.WithTimeout(context.Background(), time.Second)
		_, err := controlapi.QueryStatus(qctx, sock)
		qcancel()
		if errors.Is(err, client.ErrNotRunning) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("node did not stop within %v", *wait)
}
