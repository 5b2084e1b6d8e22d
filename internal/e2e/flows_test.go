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

// resumeLimit bounds how long a stream may take to flow again after a
// move or a restart, and idleLimit how long either end waits for progress
// before it gives up. They are survival bounds, not performance goals:
// after an outage of a few tens of seconds TCP's exponential retransmission
// backoff alone can add as much again before data flows, and the
// connection is still alive (Linux gives up after about 15 minutes).
const (
	resumeLimit = 100 * time.Second
	idleLimit   = 90 * time.Second
)

// probeInterval is the default interval of handoverbench's streams, which
// startFlows uses.
const probeInterval = 5 * time.Millisecond

// gapThreshold is the gap threshold of a stream with probeInterval on
// network: the stream's default (3 intervals), widened by 4× the larger
// jitter of the two links, as handoverbench.Config does, since jitter
// (±J each way) spreads arrivals over 4J without anything being wrong.
func gapThreshold(n netlab.Network) time.Duration {
	return 3*probeInterval + 4*max(n.Wifi.Jitter, n.Cell.Jitter)
}

// flow is one probe stream of a run: IPv4 or IPv6, between cn and the
// node's VIP of that family.
type flow struct {
	family string
	vip    netip.Addr
	s      *handoverbench.Stream
}

// startFlows starts an IPv4 and an IPv6 stream between cn and the node's
// VIPs, with the node sending or only receiving, and waits until both
// flow steadily. The streams are aborted when the test ends if the test
// has not stopped them.
func startFlows(ctx context.Context, t *testing.T, h *handoverbench.HomeIP, nodeSends bool) []flow {
	t.Helper()
	var flows []flow
	for _, f := range []struct {
		family, network string
		vip             netip.Addr
	}{{"IPv4", "tcp4", h.VIP4}, {"IPv6", "tcp6", h.VIP6}} {
		s, err := handoverbench.StartStream(ctx, h.Lab, handoverbench.StreamSpec{
			Network: f.network, Source: f.vip, NodeSends: nodeSends,
			Interval: probeInterval, IdleTimeout: idleLimit, GapThreshold: gapThreshold(h.Lab.Network()),
		})
		if err != nil {
			t.Fatalf("%s stream between cn and VIP %v: %v", f.family, f.vip, err)
		}
		t.Cleanup(func() { s.Abort() })
		if s.NodeAddr.Addr() != f.vip {
			t.Errorf("%s stream: node's end is %v, want its VIP %v", f.family, s.NodeAddr, f.vip)
		}
		if s.PeerSeen.Addr() != f.vip {
			t.Errorf("%s stream: cn sees the node as %v, want its VIP %v", f.family, s.PeerSeen, f.vip)
		}
		flows = append(flows, flow{family: f.family, vip: f.vip, s: s})
	}
	for _, f := range flows {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := f.s.WaitFlowing(wctx, time.Now(), 300*time.Millisecond)
		cancel()
		if err != nil {
			t.Fatalf("%s stream never flowed steadily before the move: %v", f.family, err)
		}
	}
	return flows
}

// finishFlows waits until every stream flows again after since (for at
// most limit), stops it cleanly and checks it end to end: no reset, the
// end record arrived, and bytes and SHA-256 are equal on both sides. It
// logs each stream's largest gap after from.
func finishFlows(ctx context.Context, t *testing.T, flows []flow, from, since time.Time, limit time.Duration) {
	t.Helper()
	for _, f := range flows {
		wctx, cancel := context.WithTimeout(ctx, limit)
		err := f.s.WaitFlowing(wctx, since, 500*time.Millisecond)
		cancel()
		if err != nil {
			r := f.s.Abort()
			t.Errorf("%s stream did not resume within %v: %v (%s)", f.family, limit, err, describe(r))
			continue
		}
		r := f.s.Stop(10 * time.Second)
		if err := r.Err(); err != nil {
			t.Errorf("%s stream: %v (%s)", f.family, err, describe(r))
			continue
		}
		gap, _, ok := r.GapAfter(from, time.Now())
		if !ok {
			gap = r.Recv.GapThresholdMS
		}
		t.Logf("%s stream intact: %d bytes, sha256 %.16s… on both ends, largest gap %.1f ms, %d gaps over %.0f ms",
			f.family, r.Recv.Bytes, r.Recv.SHA256, gap, len(r.Recv.Gaps), r.Recv.GapThresholdMS)
	}
}

// describe summarises a stream result for a failure message.
func describe(r handoverbench.StreamResult) string {
	if r.Send == nil || r.Recv == nil {
		return "no reports"
	}
	return fmt.Sprintf("sent %d B sha256 %.16s…, received %d B sha256 %.16s…, %d resets, max gap %.0f ms",
		r.Send.Bytes, r.Send.SHA256, r.Recv.Bytes, r.Recv.SHA256, r.Send.Resets+r.Recv.Resets, r.Recv.MaxGapMS)
}

// checkVIPs fails the test unless the node reports itself registered
// with the VIPs it started with.
func checkVIPs(ctx context.Context, t *testing.T, h *handoverbench.HomeIP) {
	t.Helper()
	st, err := h.WaitStatus(ctx, 20*time.Second, "registered", func(s handoverbench.NodeStatus) bool {
		return s.State == "registered"
	})
	if err != nil {
		t.Errorf("node not registered after the move: %v", err)
		return
	}
	if st.VIP4 != h.VIP4 || st.VIP6 != h.VIP6 {
		t.Errorf("VIPs changed: now %v and %v, started with %v and %v", st.VIP4, st.VIP6, h.VIP4, h.VIP6)
	}
	t.Logf("node: primary %s, care-of %v, %d handovers, last %.1f ms, VIPs %v %v", st.Interface, st.CareOf, st.Handovers, st.LastHandoverMs, st.VIP4, st.VIP6)
}
