package handoverbench

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
)

// TestStreamThroughLab runs the stream helper across the lab's NATs with
// no tunnel, in both directions and both families, and checks that an
// undisturbed stream verifies.
func TestStreamThroughLab(t *testing.T) {
	lab := labtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		network   string
		nodeSends bool
	}{{"tcp4", false}, {"tcp4", true}, {"tcp6", false}, {"tcp6", true}} {
		s, err := StartStream(ctx, lab, StreamSpec{Network: tc.network, NodeSends: tc.nodeSends})
		if err != nil {
			t.Fatalf("%s: %v", tc.network, err)
		}
		if err := s.WaitFlowing(ctx, time.Now(), 200*time.Millisecond); err != nil {
			s.Abort()
			t.Fatalf("%s node sends %v: %v", tc.network, tc.nodeSends, err)
		}
		r := s.Stop(5 * time.Second)
		if err := r.Err(); err != nil {
			t.Errorf("%s node sends %v: %v", tc.network, tc.nodeSends, err)
		}
		if r.Recv.Bytes == 0 || r.Recv.SHA256 != r.Send.SHA256 {
			t.Errorf("%s: received %d bytes", tc.network, r.Recv.Bytes)
		}
		// IPv4 crosses the Wi-Fi NAT; IPv6 is routed.
		wantSeen := netlab.WifiPublic4
		if tc.network == "tcp6" {
			wantSeen = netlab.MNWifiA6
		}
		if s.PeerSeen.Addr() != wantSeen {
			t.Errorf("%s: cn saw the node as %v, want %v", tc.network, s.PeerSeen, wantSeen)
		}
	}
}

// TestBenchBaselines runs a short benchmark of the two paths that need no
// homeip binary: without a tunnel every move must break the stream.
func TestBenchBaselines(t *testing.T) {
	labtest.Require(t)
	if testing.Short() {
		t.Skip("builds wireguard-go and runs moves")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := Build(ctx, dir, "wireguard-go")
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	res, err := Run(ctx, Config{
		Moves: 2, Kinds: []Kind{WifiToCell, CellToWifi, WifiSilent}, Paths: []string{PathNone, PathWireGuard}, Window: time.Second,
		Bin: bin, Dir: filepath.Join(dir, "scratch"), Progress: &progress,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	res.WriteTable(&table)
	t.Logf("progress:\n%s\n%s", progress.String(), table.String())
	for _, pr := range res.Paths {
		if pr.Err != nil {
			t.Errorf("%s: %v", pr.Path, pr.Err)
		}
		if len(pr.Moves) != 6 {
			t.Errorf("%s: %d moves measured, want 6", pr.Path, len(pr.Moves))
		}
	}
	for _, k := range []Kind{WifiToCell, CellToWifi, WifiSilent} {
		s := res.Summary(DefaultProfile, PathNone, k)
		if s.Broken != 2 || !math.IsInf(s.Max, 1) {
			t.Errorf("no tunnel, kind %v: %d of 2 streams broken, max gap %v; a move without a tunnel must break the stream", k, s.Broken, s.Max)
		}
	}
}
