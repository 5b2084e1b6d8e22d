package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/handoverbench"
	"github.com/homeip/homeip/internal/netlab"
)

// Bulk streams (handoverbench.StreamSpec.Bulk) keep the sender's socket
// buffer full, so the stream runs as fast as the path lets it and every
// segment is full-size: what a path MTU below the link's, or a tunnel
// that did not clamp its MSS, would break.
const (
	// bulkGap: pauses in delivery longer than this are logged as gaps.
	bulkGap = 50 * time.Millisecond
	// bulkBefore is what every stream must carry before the first step,
	// bulkStep what it must carry after each step.
	bulkBefore = 1 << 20
	bulkStep   = 2 << 20
	// bulkGrace is how long the receiver may take to drain what is in
	// flight once the sender stops.
	bulkGrace = 60 * time.Second
)

// bulkStream is one bulk transfer of a run: a direction and a VIP family.
type bulkStream struct {
	name string // e.g. "cn→node IPv4"
	vip  netip.Addr
	s    *handoverbench.Stream
}

// step is one change of the lab during a bulk run.
type step struct {
	name string
	do   func(*netlab.Lab, context.Context) error
}

// bulkRun is a sequence of steps with bulk transfers running through all
// of them.
type bulkRun struct {
	name    string
	prepare func(*netlab.Lab, context.Context) error
	from    string // the node's primary interface before the first step
	standby string // its standby interface before the first step ("" for none)
	// receiveOnly: only cn → node streams (the node sends nothing but
	// TCP's acknowledgements); otherwise both directions at once.
	receiveOnly bool
	steps       []step
}

var (
	toCell         = step{"Wi-Fi → cellular", (*netlab.Lab).MoveToCell}
	toWifi         = step{"cellular → Wi-Fi", (*netlab.Lab).MoveToWifi}
	flushWifiNAT   = step{"Wi-Fi NAT flushed", func(l *netlab.Lab, ctx context.Context) error { return l.FlushNAT(ctx, l.Wifi) }}
	toCellIPv6     = step{"Wi-Fi (IPv4 only) → cellular (IPv6 only)", (*netlab.Lab).MoveToCellIPv6}
	toWifiIPv4     = step{"cellular (IPv6 only) → Wi-Fi (IPv4 only)", (*netlab.Lab).MoveToWifiIPv4}
	wifiCellWifi   = bulkRun{name: "wifi-cellular-wifi", prepare: (*netlab.Lab).MoveToWifi, from: netlab.WifiIface, steps: []step{toCell, toWifi}}
	bulkRunsShared = []bulkRun{
		wifiCellWifi,
		{
			// Nothing changes at the node: the NAT in front of it
			// forgets the mapping, and the node only receives.
			name: "wifi-nat-flushed-receive-only", prepare: (*netlab.Lab).MoveToWifi, from: netlab.WifiIface,
			receiveOnly: true, steps: []step{flushWifiNAT},
		},
		{
			name: "wifi-to-standby-cellular", prepare: (*netlab.Lab).BothLinks,
			from: netlab.WifiIface, standby: netlab.CellIface, steps: []step{toCell},
		},
		{
			// The underlay changes IP version: IPv4 behind the Wi-Fi
			// NAT, then routed IPv6 on cellular, then back.
			name: "underlay-ipv4-ipv6-ipv4", prepare: (*netlab.Lab).MoveToWifiIPv4, from: netlab.WifiIface,
			steps: []step{toCellIPv6, toWifiIPv4},
		},
	}
)

// TestBulkTransfers carries bulk TCP transfers (several MB each, checked
// with SHA-256) between cn and both of the node's VIPs, cn → node and
// node → cn at once, through the moves that real access networks make
// hard: from Wi-Fi onto the 1280-byte cellular link and back, the Wi-Fi
// NAT forgetting the node's mapping while the node only receives, Wi-Fi
// going away with cellular already up as the standby, and the underlay
// switching between IPv4 behind NAT and IPv6. Every transfer must end
// intact (no reset, equal byte count and SHA-256) and the VIPs must not
// change. Two labs run at once: one with the suite's profile for every
// run (its Wi-Fi is 1492 bytes on the field profile), and one whose
// Wi-Fi link is 1500 bytes and whose cellular link is 1280, for the
// 1500 → 1280 → 1500 walk. Gaps are logged, not judged.
func TestBulkTransfers(t *testing.T) {
	for _, g := range []struct {
		name string
		net  func(*testing.T) netlab.Network
		runs []bulkRun
	}{
		{"profile-" + suiteProfile(), suiteNetwork, bulkRunsShared},
		{"wifi-1500-cellular-1280", func(t *testing.T) netlab.Network {
			n := suiteNetwork(t)
			n.Wifi.MTU, n.Wifi.PathMTU, n.Wifi.SilentPath = 0, 0, false
			n.Cell.MTU, n.Cell.PathMTU, n.Cell.SilentPath = cellMTU, 0, false
			return n
		}, []bulkRun{wifiCellWifi}},
	} {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			n := g.net(t)
			h := deployIn(t, n)
			t.Logf("Wi-Fi: %v; cellular: %v", n.Wifi, n.Cell)
			for _, r := range g.runs {
				t.Run(r.name, func(t *testing.T) { runBulk(t, h, r) })
			}
		})
	}
}

// runBulk puts the lab in r's start state, starts the bulk transfers,
// walks through r's steps (each once every transfer has carried
// bulkBefore, then bulkStep more), and checks every transfer and the
// VIPs.
func runBulk(t *testing.T, h *handoverbench.HomeIP, r bulkRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lab := h.Lab
	if err := r.prepare(lab, ctx); err != nil {
		t.Fatal(err)
	}
	what := "primary on " + r.from
	if r.standby != "" {
		what += ", standby on " + r.standby
	}
	if _, err := h.WaitStatus(ctx, 30*time.Second, what, func(s handoverbench.NodeStatus) bool {
		return s.State == "registered" && s.Interface == r.from && (r.standby == "" || s.Standby == r.standby)
	}); err != nil {
		t.Fatalf("before the first step: %v", err)
	}
	streams := startBulk(ctx, t, h, r.receiveOnly)
	if err := waitBytes(ctx, streams, bulkBefore, resumeLimit); err != nil {
		t.Fatalf("before the first step: %v", err)
	}
	for _, st := range r.steps {
		base := make([]uint64, len(streams))
		for i, b := range streams {
			base[i] = b.s.Received()
			b.s.ResetMaxPause()
		}
		start := time.Now()
		if err := st.do(lab, ctx); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for i, b := range streams {
			if err := waitBytes(ctx, streams[i:i+1], base[i]+bulkStep, resumeLimit); err != nil {
				t.Errorf("%s: %s: %v", st.name, b.name, err)
			}
		}
		if t.Failed() {
			return
		}
		for i, b := range streams {
			t.Logf("%s: %s carried %.1f MB more in %v, longest pause %v", st.name, b.name,
				float64(b.s.Received()-base[i])/1e6, time.Since(start).Round(time.Millisecond), b.s.MaxPause().Round(time.Millisecond))
		}
		if ns, err := h.Status(ctx); err == nil {
			t.Logf("%s: node primary %s, care-of %v, last handover %.1f ms", st.name, ns.Interface, ns.CareOf, ns.LastHandoverMs)
		}
	}
	for _, b := range streams {
		res := b.s.Stop(bulkGrace)
		if err := res.Err(); err != nil {
			t.Errorf("%s: %v (%s)", b.name, err, describe(res))
			continue
		}
		t.Logf("%s intact: %.1f MB, sha256 %.16s… on both ends, %d pauses over %.0f ms, longest %.0f ms",
			b.name, float64(res.Recv.Bytes)/1e6, res.Recv.SHA256, len(res.Recv.Gaps), res.Recv.GapThresholdMS, res.Recv.MaxGapMS)
	}
	checkVIPs(ctx, t, h)
}

// startBulk starts bulk transfers between cn and both of the node's VIPs:
// cn → node, and unless receiveOnly node → cn as well. They are aborted
// when the test ends if it has not stopped them.
func startBulk(ctx context.Context, t *testing.T, h *handoverbench.HomeIP, receiveOnly bool) []bulkStream {
	t.Helper()
	dirs := []bool{false}
	if !receiveOnly {
		dirs = append(dirs, true)
	}
	var out []bulkStream
	for _, nodeSends := range dirs {
		for _, f := range []struct {
			family, network string
			vip             netip.Addr
		}{{"IPv4", "tcp4", h.VIP4}, {"IPv6", "tcp6", h.VIP6}} {
			name := fmt.Sprintf("cn→node %s", f.family)
			if nodeSends {
				name = fmt.Sprintf("node→cn %s", f.family)
			}
			s, err := handoverbench.StartStream(ctx, h.Lab, handoverbench.StreamSpec{
				Network: f.network, Source: f.vip, NodeSends: nodeSends,
				Bulk: true, GapThreshold: bulkGap,
				IdleTimeout: idleLimit,
			})
			if err != nil {
				t.Fatalf("%s transfer to VIP %v: %v", name, f.vip, err)
			}
			t.Cleanup(func() { s.Abort() })
			if s.NodeAddr.Addr() != f.vip || s.PeerSeen.Addr() != f.vip {
				t.Errorf("%s: node's end is %v and cn sees %v, want the VIP %v on both", name, s.NodeAddr, s.PeerSeen, f.vip)
			}
			out = append(out, bulkStream{name: name, vip: f.vip, s: s})
		}
	}
	return out
}

// waitBytes waits until every stream's receiver has read at least n bytes
// in total, for at most limit.
func waitBytes(ctx context.Context, streams []bulkStream, n uint64, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for _, b := range streams {
			select {
			case <-b.s.Ended():
				return fmt.Errorf("e2e: %s ended after %d of %d bytes", b.name, b.s.Received(), n)
			default:
			}
			if b.s.Received() < n {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			var got []string
			for _, b := range streams {
				got = append(got, fmt.Sprintf("%s %d B", b.name, b.s.Received()))
			}
			return fmt.Errorf("e2e: waiting for %d bytes: %w (received: %v)", n, ctx.Err(), got)
		case <-tick.C:
		}
	}
}
