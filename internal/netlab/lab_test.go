package netlab_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
)

// observe accepts one TCP connection on ha's published address (family of
// haAddr) dialled from mn, and returns the source address ha saw.
func observe(t *testing.T, l *netlab.Lab, haAddr netip.Addr) (netip.AddrPort, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ln, err := l.HA.Listen(ctx, "tcp", netip.AddrPortFrom(haAddr, 0).String())
	if err != nil {
		t.Fatalf("listen in ha: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	c, err := l.MN.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return netip.AddrPort{}, err
	}
	defer c.Close()
	var sc net.Conn
	select {
	case sc = <-accepted:
	case <-ctx.Done():
		return netip.AddrPort{}, ctx.Err()
	}
	if sc == nil {
		return netip.AddrPort{}, errors.New("accept failed")
	}
	defer sc.Close()
	return netip.MustParseAddrPort(sc.RemoteAddr().String()), nil
}

func mustObserve(t *testing.T, l *netlab.Lab, step string, wantSrc4, wantSrc6 netip.Addr) {
	t.Helper()
	for _, c := range []struct{ ha, want netip.Addr }{{netlab.HAPublic4, wantSrc4}, {netlab.HAPublic6, wantSrc6}} {
		got, err := observe(t, l, c.ha)
		if err != nil {
			t.Fatalf("%s: mn cannot reach %v: %v", step, c.ha, err)
		}
		if got.Addr().Unmap() != c.want {
			t.Fatalf("%s: ha saw mn as %v, want %v", step, got.Addr(), c.want)
		}
	}
}

func TestMoves(t *testing.T) {
	t.Parallel()
	l := labtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	mustObserve(t, l, "start (wifi)", netlab.WifiPublic4, netlab.MNWifiA6)
	steps := []struct {
		name      string
		do        func(context.Context) error
		want4     netip.Addr
		want6     netip.Addr
		wantState netlab.MNState
	}{
		{"to cell", l.MoveToCell, netlab.CarrierPublic4, netlab.MNCell6, netlab.MNState{CellUp: true}},
		{"to wifi", l.MoveToWifi, netlab.WifiPublic4, netlab.MNWifiA6, netlab.MNState{WifiUp: true}},
		{"both links", l.BothLinks, netlab.WifiPublic4, netlab.MNWifiA6, netlab.MNState{WifiUp: true, CellUp: true}},
		{"renumber", l.RenumberWifi, netlab.WifiPublic4, netlab.MNWifiB6, netlab.MNState{WifiUp: true, CellUp: true, WifiSubnetB: true}},
		{"to cell again", l.MoveToCell, netlab.CarrierPublic4, netlab.MNCell6, netlab.MNState{CellUp: true, WifiSubnetB: true}},
		{"renumber from cell", l.RenumberWifi, netlab.CarrierPublic4, netlab.MNCell6, netlab.MNState{WifiUp: true, CellUp: true}},
		{"flap", func(ctx context.Context) error { return l.FlapWifi(ctx, 200*time.Millisecond) }, netlab.WifiPublic4, netlab.MNWifiA6, netlab.MNState{WifiUp: true, CellUp: true}},
		{"back to wifi", l.MoveToWifi, netlab.WifiPublic4, netlab.MNWifiA6, netlab.MNState{WifiUp: true}},
	}
	for _, s := range steps {
		if err := s.do(ctx); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := l.State(); got != s.wantState {
			t.Fatalf("%s: state %+v, want %+v", s.name, got, s.wantState)
		}
		// "renumber from cell": cell has the worse metric but wlan0 came
		// back, so IPv4 leaves via Wi-Fi again.
		if s.name == "renumber from cell" {
			s.want4, s.want6 = netlab.WifiPublic4, netlab.MNWifiA6
		}
		mustObserve(t, l, s.name, s.want4, s.want6)
	}

	// After a move to cellular the old Wi-Fi address is gone from mn.
	if err := l.MoveToCell(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := l.MN.Run(ctx, "ip", "-o", "addr", "show", "dev", netlab.WifiIface)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, netlab.MNWifiA4.String()) || strings.Contains(out, "state UP") {
		t.Fatalf("wlan0 still up or addressed after MoveToCell:\n%s", out)
	}
}

// udpSource sends one datagram from mn's fixed local port to ha and
// returns the source ha saw.
func udpSource(t *testing.T, mn net.PacketConn, ha net.PacketConn) netip.AddrPort {
	t.Helper()
	if _, err := mn.WriteTo([]byte("probe"), ha.LocalAddr()); err != nil {
		t.Fatalf("send: %v", err)
	}
	_ = ha.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	_, from, err := ha.ReadFrom(buf)
	if err != nil {
		t.Fatalf("ha did not receive: %v", err)
	}
	return netip.MustParseAddrPort(from.String())
}

func TestFlushNATChangesPort(t *testing.T) {
	t.Parallel()
	l := labtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ha, err := l.HA.ListenPacket(ctx, "udp4", netip.AddrPortFrom(netlab.HAPublic4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	mn, err := l.MN.ListenPacket(ctx, "udp4", ":40000")
	if err != nil {
		t.Fatal(err)
	}
	defer mn.Close()

	check := func(path string, routers ...*netlab.Node) {
		for _, r := range routers {
			before := udpSource(t, mn, ha)
			if again := udpSource(t, mn, ha); again != before {
				t.Fatalf("%s: mapping not stable without flush: %v then %v", path, before, again)
			}
			// fully-random picks the same port again with p ≈ 1/28000;
			// three flushes that all keep the port mean flushing is broken.
			changed := false
			for range 3 {
				if err := l.FlushNAT(ctx, r); err != nil {
					t.Fatal(err)
				}
				if after := udpSource(t, mn, ha); after.Port() != before.Port() {
					changed = true
					break
				}
			}
			if !changed {
				t.Fatalf("%s: flushing %s did not change the public port %d", path, r.Role, before.Port())
			}
		}
	}
	check("wifi", l.Wifi)
	if err := l.MoveToCell(ctx); err != nil {
		t.Fatal(err)
	}
	check("cell", l.Carrier, l.Cell)
	if err := l.FlushNAT(ctx, l.MN); !errors.Is(err, netlab.ErrNotRouter) {
		t.Fatalf("FlushNAT(mn) = %v, want ErrNotRouter", err)
	}
}

func TestBlackholeWifi(t *testing.T) {
	t.Parallel()
	l := labtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.BlackholeWifi(ctx, true); err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(ctx, time.Second)
	c, err := l.MN.Dial(dctx, "tcp", netip.AddrPortFrom(netlab.HAPublic4, 9).String())
	dcancel()
	if err == nil {
		c.Close()
		t.Fatal("mn reached ha through a blackholed Wi-Fi")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("dial through blackhole: %v, want a timeout (packets dropped, not refused)", err)
	}
	// The link itself is still up with its address.
	if s := l.State(); !s.WifiUp {
		t.Fatalf("state %+v: Wi-Fi should stay up", s)
	}
	if err := l.BlackholeWifi(ctx, false); err != nil {
		t.Fatal(err)
	}
	mustObserve(t, l, "after blackhole", netlab.WifiPublic4, netlab.MNWifiA6)
}

func TestCloseKillsProcessesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	l := labtest.New(t)
	ctx := context.Background()
	p, err := l.Start(ctx, l.CN, "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("process still running after Close")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, n := range l.Nodes() {
		if _, err := os.Stat("/run/netns/" + n.NS); err == nil {
			t.Fatalf("namespace %s left after Close", n.NS)
		}
	}
	if err := l.MoveToCell(ctx); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("MoveToCell after Close = %v, want net.ErrClosed", err)
	}
	if _, err := l.Start(ctx, l.CN, "true"); !errors.Is(err, netlab.ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
}

func TestStartCapturesOutput(t *testing.T) {
	t.Parallel()
	l := labtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := l.Start(ctx, l.MN, "ip", "-o", "link", "show", "dev", netlab.WifiIface)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("wait: %v (%s)", err, p.Output())
	}
	if !strings.Contains(p.Output(), netlab.WifiIface) {
		t.Fatalf("output %q does not name wlan0", p.Output())
	}
	if _, err := l.CN.Run(ctx, "false"); err == nil {
		t.Fatal("Run(false) succeeded")
	}
}

func TestTwoLabsInParallel(t *testing.T) {
	t.Parallel()
	labtest.Require(t)
	var wg sync.WaitGroup
	labs := make([]*netlab.Lab, 2)
	errs := make([]error, 2)
	for i := range labs {
		wg.Go(func() {
			labs[i], errs[i] = netlab.New(context.Background(), netlab.Options{})
		})
	}
	wg.Wait()
	for i, l := range labs {
		if errs[i] != nil {
			t.Fatalf("lab %d: %v", i, errs[i])
		}
		t.Cleanup(func() { l.Close() })
	}
	if labs[0].Prefix == labs[1].Prefix {
		t.Fatalf("two labs share prefix %s", labs[0].Prefix)
	}
	for _, l := range labs {
		mustObserve(t, l, l.Prefix, netlab.WifiPublic4, netlab.MNWifiA6)
	}
	if err := labs[0].MoveToCell(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustObserve(t, labs[0], "lab 0 on cell", netlab.CarrierPublic4, netlab.MNCell6)
	mustObserve(t, labs[1], "lab 1 untouched", netlab.WifiPublic4, netlab.MNWifiA6)
}

func TestBadPrefix(t *testing.T) {
	for _, p := range []string{"lab1", "hip", "hipUPPER", "hip-x", "hip0123456789012345678"} {
		if _, err := netlab.New(context.Background(), netlab.Options{Prefix: p}); !errors.Is(err, netlab.ErrBadPrefix) {
			t.Errorf("New(prefix %q) = %v, want ErrBadPrefix", p, err)
		}
	}
	if _, err := netlab.CleanAll(context.Background(), "x"); !errors.Is(err, netlab.ErrBadPrefix) {
		t.Errorf("CleanAll(x) = %v, want ErrBadPrefix", err)
	}
}

func TestDo(t *testing.T) {
	t.Parallel()
	l := labtest.New(t)
	var names []string
	if err := l.MN.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, netlab.WifiIface) || !slices.Contains(names, netlab.CellIface) {
		t.Fatalf("interfaces seen inside mn: %v", names)
	}
	want := errors.New("from fn")
	if err := l.CN.Do(func() error { return want }); err != want {
		t.Fatalf("Do returned %v, want fn's error", err)
	}
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want the panic from fn", p)
			}
		}()
		_ = l.CN.Do(func() error { panic("boom") })
	}()
}

// TestProcessOutlivesStartingThread starts a process from a goroutine that
// ends locked to its thread, so Go terminates the thread: the process must
// live on (PR_SET_PDEATHSIG follows the forking thread, see spawner).
func TestProcessOutlivesStartingThread(t *testing.T) {
	t.Parallel()
	l := labtest.New(t)
	ctx := context.Background()
	started := make(chan *netlab.Process, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		p, err := l.Start(ctx, l.CN, "sleep", "600")
		if err != nil {
			errc <- err
			return
		}
		started <- p
	}()
	var p *netlab.Process
	select {
	case p = <-started:
	case err := <-errc:
		t.Fatal(err)
	}
	// Force more thread churn: goroutines that end locked.
	for range 8 {
		done := make(chan struct{})
		go func() { runtime.LockOSThread(); close(done) }()
		<-done
	}
	// The kernel delivers a parent-death signal at once; a process still
	// answering a signal 0 after the churn has survived it.
	if _, err := l.CN.Run(ctx, "true"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
		t.Fatalf("process died with the thread that started it: %v", p.Wait(ctx))
	default:
	}
	if err := p.Signal(0); err != nil {
		t.Fatalf("process gone: %v", err)
	}
}
