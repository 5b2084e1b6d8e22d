package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/homeip/homeip/homeagent/adminapi"
	"github.com/homeip/homeip/internal/handoverbench"
	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
	"github.com/homeip/homeip/tunnel"
)

// silentInner is the largest inner packet a silent 1280-byte path carries
// over the lab's IPv4 outer path: 1280 bytes less the outer IPv4 and UDP
// headers and WireGuard's overhead.
var silentInner = tunnel.InnerMTU(1280 - 20 - 8)

// searchResolution is how far below the path's limit quic-go's path MTU
// search may stop (its bounds end 21 bytes apart).
const searchResolution = 21

// silentStream is a probe stream that behaves as a bulk transfer: large
// records back to back.
type silentStream struct {
	name string
	s    *handoverbench.Stream
}

// nodePathMTU is the part of `mnode status --json` this test reads.
type nodePathMTU struct {
	State         string `json:"state"`
	Interface     string `json:"interface"`
	PathMTU       int    `json:"path_mtu"`
	PathMTUSource string `json:"path_mtu_source"`
}

// TestSilentPathBulk moves the node, with bulk TCP transfers running in
// both directions over IPv4, from a cellular link whose path
// carries 1500 bytes onto a Wi-Fi whose link is 1500 bytes but whose path
// further along carries 1280 and drops the rest without ICMP (a PMTU black
// hole, as in hotels and tunnels in tunnels). The connections were opened
// with full-size segments; nothing tells either end that the new path is
// smaller but QUIC's path MTU discovery on the new control connection.
// The node and the home agent must learn the limit (`mnode status` and
// `ha binding list` show it), the tunnel must enforce it (ICMP to the
// inner senders), and every transfer must come through intact (SHA-256 on
// both ends); IPv6 transfers opened on the small path too. How long each
// stream stalled is logged, not asserted.
func TestSilentPathBulk(t *testing.T) {
	t.Parallel()
	b := needBinaries(t)
	lab := labtest.NewWith(t, netlab.Options{Network: netlab.Network{Wifi: netlab.HotelWifiProfile}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	h, err := handoverbench.StartHomeIP(ctx, lab, handoverbench.HomeIPOptions{Bin: b, Dir: dir})
	if err != nil {
		t.Fatalf("starting homeip in lab %s: %v", lab.Prefix, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("lab %s:\n%s", lab.Prefix, h.Logs())
		}
		h.Close()
	})
	status := func(ctx context.Context) (nodePathMTU, error) {
		out, err := lab.MN.Run(ctx, b.MNode, "status", "--state-dir", filepath.Join(dir, "mnode"), "--json")
		if err != nil {
			return nodePathMTU{}, err
		}
		var st nodePathMTU
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return nodePathMTU{}, fmt.Errorf("mnode status --json: %w: %q", err, out)
		}
		return st, nil
	}

	if err := lab.MoveToCell(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WaitStatus(ctx, 30*time.Second, "registered on wwan0", func(s handoverbench.NodeStatus) bool {
		return s.State == "registered" && s.Interface == netlab.CellIface
	}); err != nil {
		t.Fatal(err)
	}

	streams := startSilentBulk(ctx, t, h, "tcp4")
	// Full-size segments on a path that carries them.
	time.Sleep(2 * time.Second)
	before := make([]uint64, len(streams))
	for i, bs := range streams {
		before[i] = bs.s.Received()
		bs.s.ResetMaxPause()
	}

	moved := time.Now()
	if err := lab.MoveToWifi(ctx); err != nil {
		t.Fatal(err)
	}
	t.Log("moved onto the Wi-Fi whose path silently drops what exceeds 1280 bytes")

	var st nodePathMTU
	for {
		st, err = status(ctx)
		if err == nil && st.State == "registered" && st.Interface == netlab.WifiIface &&
			st.PathMTUSource == "discovered" && st.PathMTU <= silentInner {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node never learned the silent path's MTU: last status %+v, err %v", st, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("mnode status: path MTU %d (%s) on %s, %v after the move", st.PathMTU, st.PathMTUSource, st.Interface, time.Since(moved).Round(time.Millisecond))
	if st.PathMTU < silentInner-searchResolution {
		t.Errorf("node's path MTU %d, want %d-%d", st.PathMTU, silentInner-searchResolution, silentInner)
	}

	var bd adminapi.Binding
	for {
		out, err := h.Bindings(ctx)
		var bs []adminapi.Binding
		if err == nil {
			err = json.Unmarshal([]byte(out), &bs)
		}
		if err == nil && len(bs) == 1 {
			bd = bs[0]
			if bd.PathMTUState == "discovered" && bd.PathMTU <= silentInner {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("home agent never learned the silent path's MTU: last binding %+v, err %v", bd, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("ha binding list: path MTU %d (%s) toward %v, %v after the move", bd.PathMTU, bd.PathMTUState, bd.Primary, time.Since(moved).Round(time.Millisecond))
	if bd.PathMTU < silentInner-searchResolution {
		t.Errorf("home agent's path MTU %d, want %d-%d", bd.PathMTU, silentInner-searchResolution, silentInner)
	}

	for _, bs := range streams {
		wctx, cancel := context.WithTimeout(ctx, resumeLimit)
		err := bs.s.WaitFlowing(wctx, time.Now(), time.Second)
		cancel()
		if err != nil {
			t.Errorf("%s stream did not flow again on the silent path: %v", bs.name, err)
		}
	}
	// Some megabytes more over the small path.
	time.Sleep(2 * time.Second)
	finishSilentBulk(t, streams, before)

	// IPv6 connections opened on the small path are clamped to it. (One
	// opened before the move does not survive it: the tunnel lets inner
	// IPv6 packets up to 1280 bytes through, as IPv6 links must carry
	// them, and their datagrams are too big for a silent 1280-byte path.)
	fresh := startSilentBulk(ctx, t, h, "tcp6")
	time.Sleep(2 * time.Second)
	finishSilentBulk(t, fresh, make([]uint64, len(fresh)))
}

// finishSilentBulk stops the streams, checks them end to end and logs how much
// each carried since before[i] bytes and its longest stall since the last
// ResetMaxPause.
func finishSilentBulk(t *testing.T, streams []silentStream, before []uint64) {
	t.Helper()
	for i, bs := range streams {
		stall := bs.s.MaxPause()
		after := bs.s.Received() - before[i]
		r := bs.s.Stop(30 * time.Second)
		if err := r.Err(); err != nil {
			t.Errorf("%s stream: %v (%s)", bs.name, err, describe(r))
			continue
		}
		t.Logf("%s stream intact: %.1f MB in all, %.1f MB on the silent path, sha256 %.16s… on both ends; longest stall there %v",
			bs.name, float64(r.Recv.Bytes)/1e6, float64(after)/1e6, r.Recv.SHA256, stall.Round(time.Millisecond))
		if after < 1<<20 {
			t.Errorf("%s stream: only %d bytes on the silent path", bs.name, after)
		}
	}
}

// startSilentBulk starts two bulk streams of network ("tcp4" or "tcp6")
// between cn and the node's VIP of that family, one each way, and waits
// until both flow.
func startSilentBulk(ctx context.Context, t *testing.T, h *handoverbench.HomeIP, network string) []silentStream {
	t.Helper()
	family, vip := "IPv4", h.VIP4
	if network == "tcp6" {
		family, vip = "IPv6", h.VIP6
	}
	var streams []silentStream
	for _, nodeSends := range []bool{false, true} {
		name := family + " cn → node"
		if nodeSends {
			name = family + " node → cn"
		}
		s, err := handoverbench.StartStream(ctx, h.Lab, handoverbench.StreamSpec{
			Network: network, Source: vip, NodeSends: nodeSends,
			RecordSize: 4 << 10, Interval: 100 * time.Microsecond,
			// A bulk transfer on a shared machine pauses for some
			// milliseconds now and then; only longer pauses are gaps.
			GapThreshold: 100 * time.Millisecond,
			IdleTimeout:  idleLimit,
		})
		if err != nil {
			t.Fatalf("%s stream: %v", name, err)
		}
		t.Cleanup(func() { s.Abort() })
		streams = append(streams, silentStream{name: name, s: s})
	}
	for _, bs := range streams {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := bs.s.WaitFlowing(wctx, time.Now(), 300*time.Millisecond)
		cancel()
		if err != nil {
			t.Fatalf("%s stream never flowed: %v", bs.name, err)
		}
	}
	return streams
}
