package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/handoverbench"
	"github.com/homeip/homeip/internal/netlab"
)

// move is one of issue 8's moves: the lab state it starts from, the
// node's primary link once settled there, and the move itself.
type move struct {
	name    string
	prepare func(*netlab.Lab, context.Context) error
	from    string // the node's primary interface before the move
	standby string // the node's standby interface before the move ("" for none)
	do      func(*netlab.Lab, context.Context) error
	cleanup func(*netlab.Lab, context.Context) error
}

var moves = []move{
	{
		name:    "1-wifi-to-cellular",
		prepare: (*netlab.Lab).MoveToWifi, from: netlab.WifiIface,
		do: (*netlab.Lab).MoveToCell,
	},
	{
		name:    "2-cellular-to-wifi",
		prepare: (*netlab.Lab).MoveToCell, from: netlab.CellIface,
		do: (*netlab.Lab).MoveToWifi,
	},
	{
		// Both links up, Wi-Fi preferred; then Wi-Fi drops everything
		// while its link and address stay: only keepalives or path
		// probing can notice.
		name:    "3-wifi-dies-silently",
		prepare: (*netlab.Lab).BothLinks, from: netlab.WifiIface,
		do:      func(l *netlab.Lab, ctx context.Context) error { return l.BlackholeWifi(ctx, true) },
		cleanup: func(l *netlab.Lab, ctx context.Context) error { return l.BlackholeWifi(ctx, false) },
	},
	{
		name:    "4-wlan0-renumbered",
		prepare: (*netlab.Lab).MoveToWifi, from: netlab.WifiIface,
		do: (*netlab.Lab).RenumberWifi,
	},
	{
		// The Wi-Fi NAT forgets every mapping: the node's public port
		// changes with no local event at all.
		name:    "5-wifi-nat-flushed",
		prepare: (*netlab.Lab).MoveToWifi, from: netlab.WifiIface,
		do: func(l *netlab.Lab, ctx context.Context) error { return l.FlushNAT(ctx, l.Wifi) },
	},
	{
		// Cellular is up already and registered as the standby care-of
		// address; then Wi-Fi goes away.
		name:    "7-wifi-to-standby-cellular",
		prepare: (*netlab.Lab).BothLinks, from: netlab.WifiIface, standby: netlab.CellIface,
		do: (*netlab.Lab).MoveToCell,
	},
	{
		name:    "6-twenty-moves-500ms-apart",
		prepare: (*netlab.Lab).MoveToWifi, from: netlab.WifiIface,
		do: twentyMoves,
	},
}

// twentyMoves moves the node Wi-Fi → cellular → Wi-Fi … 20 times, one
// move every 500 ms, ending on Wi-Fi.
func twentyMoves(l *netlab.Lab, ctx context.Context) error {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for i := range 20 {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
		step := l.MoveToCell
		if i%2 == 1 {
			step = l.MoveToWifi
		}
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// TestMoves runs an IPv4 and an IPv6 TCP stream between cn and the node's
// VIPs through each move, once with the node only receiving and once with
// it sending. Every stream must end intact (no reset, equal SHA-256) and
// the VIPs must not change.
func TestMoves(t *testing.T) {
	for _, g := range []struct {
		name      string
		nodeSends bool
	}{{"node-receives-only", false}, {"node-sends", true}} {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			h := deploy(t)
			for _, mv := range moves {
				t.Run(mv.name, func(t *testing.T) { runMove(t, h, mv, g.nodeSends) })
			}
		})
	}
}

func runMove(t *testing.T, h *handoverbench.HomeIP, mv move, nodeSends bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	lab := h.Lab
	if err := mv.prepare(lab, ctx); err != nil {
		t.Fatal(err)
	}
	what := "primary on " + mv.from
	if mv.standby != "" {
		what += ", standby on " + mv.standby
	}
	if _, err := h.WaitStatus(ctx, 30*time.Second, what, func(s handoverbench.NodeStatus) bool {
		return s.State == "registered" && s.Interface == mv.from && (mv.standby == "" || s.Standby == mv.standby)
	}); err != nil {
		t.Fatalf("before the move: %v", err)
	}
	flows := startFlows(ctx, t, h, nodeSends)
	if mv.cleanup != nil {
		defer func() {
			if err := mv.cleanup(lab, context.WithoutCancel(ctx)); err != nil {
				t.Error(err)
			}
		}()
	}
	moved := time.Now()
	if err := mv.do(lab, ctx); err != nil {
		t.Fatal(err)
	}
	done := time.Now()
	t.Logf("move took %v", done.Sub(moved).Round(time.Millisecond))
	finishFlows(ctx, t, flows, moved.Add(-50*time.Millisecond), done, resumeLimit)
	checkVIPs(ctx, t, h)
}
