package tunnel

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
)

var (
	epA = netip.MustParseAddrPort("198.18.2.2:1547")    // the cellular care-of the device left
	epB = netip.MustParseAddrPort("198.18.1.2:28444")   // the Wi-Fi care-of it moved to
	epC = netip.MustParseAddrPort("198.18.1.2:40000")   // the Wi-Fi NAT's new mapping
	epD = netip.MustParseAddrPort("[2001:db8::2]:5000") // another device
)

func testKey(t *testing.T) Key {
	t.Helper()
	k, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}

// heldTo runs one received batch of WireGuard datagrams from srcs through
// t and returns the endpoint each one is handed to wireguard-go with.
func heldTo(tb *retiredTable, now time.Time, srcs ...netip.AddrPort) ([]netip.AddrPort, int) {
	eps := make([]conn.Endpoint, len(srcs))
	sizes := make([]int, len(srcs))
	for i, s := range srcs {
		eps[i] = newEndpoint(s, netip.Addr{}, 0)
		sizes[i] = 96
	}
	n := tb.hold(sizes, eps, now, slog.New(slog.DiscardHandler))
	got := make([]netip.AddrPort, len(srcs))
	for i := range eps {
		got[i] = eps[i].(*endpoint).dst
	}
	return got, n
}

func TestRoamGuardRetiresTheEndpointLeft(t *testing.T) {
	k := testKey(t)
	g := newRoamGuard(RetireHold)
	now := time.Now()
	if old := g.repoint(k, newEndpoint(epA, netip.Addr{}, 0), now); old.IsValid() {
		t.Fatalf("first endpoint retired %v", old)
	}
	if tb := g.table(now); tb != nil {
		t.Fatalf("table with nothing retired: %+v", tb.m)
	}
	toB := newEndpoint(epB, netip.MustParseAddr("198.18.0.1"), 0)
	if old := g.repoint(k, toB, now); old != epA {
		t.Fatalf("re-point A→B retired %v, want %v", old, epA)
	}
	tb := g.table(now)
	if tb == nil || len(tb.m) != 1 || tb.m[epA].to != toB {
		t.Fatalf("table after A→B = %+v", tb)
	}

	// A late datagram from A is handed over with B's endpoint, the very
	// one the re-point made (sticky source included); one from a new
	// address C is not touched: that is WireGuard following a NAT.
	later := now.Add(40 * time.Millisecond)
	got, n := heldTo(tb, later, epA, epC, epA)
	if got[0] != epB || got[1] != epC || got[2] != epB || n != 2 {
		t.Fatalf("batch from A, C, A handed over as %v (%d held), want B, C, B (2 held)", got, n)
	}
	eps := []conn.Endpoint{newEndpoint(epA, netip.Addr{}, 0), nil}
	tb.hold([]int{96, 0}, eps, later, slog.New(slog.DiscardHandler))
	if eps[0] != toB {
		t.Fatalf("held endpoint %p, want the re-point's %p", eps[0], toB)
	}
	// A datagram the demultiplexer took out (size 0) is left alone.
	eps = []conn.Endpoint{newEndpoint(epA, netip.Addr{}, 0)}
	if tb.hold([]int{0}, eps, later, slog.New(slog.DiscardHandler)); eps[0].(*endpoint).dst != epA {
		t.Fatal("a QUIC datagram's endpoint was replaced")
	}

	// The retirement ends after the hold: A is then a new address again.
	end := now.Add(RetireHold)
	if got, n := heldTo(tb, end, epA); got[0] != epA || n != 0 {
		t.Fatalf("after the hold a datagram from A went to %v", got[0])
	}
	if tb := g.table(end); tb != nil {
		t.Fatalf("table after the hold: %+v", tb.m)
	}
	if len(g.retired) != 0 {
		t.Fatalf("expired retirements kept: %v", g.retired)
	}
	if g.count != 1 {
		t.Fatalf("count = %d, want 1", g.count)
	}
}

func TestRoamGuardBindingNamesARetiredEndpointAgain(t *testing.T) {
	k := testKey(t)
	g := newRoamGuard(RetireHold)
	now := time.Now()
	g.repoint(k, newEndpoint(epA, netip.Addr{}, 0), now)
	g.repoint(k, newEndpoint(epB, netip.Addr{}, 0), now)
	// The device goes back to A: A is its endpoint again, B is retired.
	if old := g.repoint(k, newEndpoint(epA, netip.Addr{}, 0), now); old != epB {
		t.Fatalf("re-point B→A retired %v, want %v", old, epB)
	}
	tb := g.table(now)
	if got, n := heldTo(tb, now, epA, epB); got[0] != epA || got[1] != epA || n != 1 {
		t.Fatalf("datagrams from A, B handed over as %v (%d held), want A, A (1 held)", got, n)
	}
	if _, ok := tb.m[epA]; ok {
		t.Fatal("A is still retired after a re-point named it")
	}
}

func TestRoamGuardChainFollowsTheLatestEndpoint(t *testing.T) {
	k := testKey(t)
	g := newRoamGuard(RetireHold)
	now := time.Now()
	g.repoint(k, newEndpoint(epA, netip.Addr{}, 0), now)
	g.repoint(k, newEndpoint(epB, netip.Addr{}, 0), now)
	g.repoint(k, newEndpoint(epC, netip.Addr{}, 0), now.Add(time.Second))
	// Late datagrams from either old endpoint land on the newest one,
	// and each retirement keeps its own deadline.
	tb := g.table(now.Add(time.Second))
	if got, n := heldTo(tb, now.Add(time.Second), epA, epB); got[0] != epC || got[1] != epC || n != 2 {
		t.Fatalf("datagrams from A, B handed over as %v (%d held), want C, C", got, n)
	}
	at := now.Add(RetireHold)
	if got, _ := heldTo(tb, at, epA, epB); got[0] != epA || got[1] != epC {
		t.Fatalf("at A's deadline datagrams from A, B handed over as %v, want A, C", got)
	}
	if tb := g.table(at); tb == nil || len(tb.m) != 1 || tb.m[epB].to.dst != epC {
		t.Fatalf("table at A's deadline = %+v, want only B", tb)
	}
}

func TestRoamGuardPeersAreApart(t *testing.T) {
	k1, k2 := testKey(t), testKey(t)
	g := newRoamGuard(RetireHold)
	now := time.Now()
	g.repoint(k1, newEndpoint(epA, netip.Addr{}, 0), now)
	g.repoint(k1, newEndpoint(epB, netip.Addr{}, 0), now)
	g.repoint(k2, newEndpoint(epD, netip.Addr{}, 0), now)
	g.repoint(k2, newEndpoint(epC, netip.Addr{}, 0), now)
	tb := g.table(now)
	if got, _ := heldTo(tb, now, epA, epD); got[0] != epB || got[1] != epC {
		t.Fatalf("datagrams from A, D handed over as %v, want B (peer 1), C (peer 2)", got)
	}
	// An address a re-point gives another peer is nobody's retired one.
	g.repoint(k2, newEndpoint(epA, netip.Addr{}, 0), now)
	if tb := g.table(now); tb.m[epA].r != nil {
		t.Fatalf("A still retired for peer 1 after peer 2 was pointed there")
	}
	// A removed peer leaves nothing behind.
	g.forget(k2)
	tb = g.table(now)
	if tb != nil {
		t.Fatalf("table after both peers' retirements went: %+v", tb.m)
	}
	if _, ok := g.bound[k2]; ok {
		t.Fatal("removed peer still bound")
	}
	if g.bound[k1].dst != epB {
		t.Fatalf("peer 1 bound to %v", g.bound[k1].dst)
	}
}

func TestRoamGuardClearSources(t *testing.T) {
	k := testKey(t)
	g := newRoamGuard(RetireHold)
	now := time.Now()
	g.repoint(k, newEndpoint(epA, netip.Addr{}, 0), now)
	g.repoint(k, newEndpoint(epB, netip.MustParseAddr("198.18.0.1"), 0), now)
	g.clearSources()
	tb := g.table(now)
	if to := tb.m[epA].to; to.dst != epB || to.SrcIP().IsValid() {
		t.Fatalf("after clearSources A is held to %v from %v", to.dst, to.SrcIP())
	}
}

// BenchmarkRetiredHold is the receive path's cost within RetireHold of
// re-points: a full batch of datagrams from distinct sources (no GRO
// sharing, the worst case) against a table of 1000 retired endpoints, one
// datagram in 8 from a retired one. Outside that time the cost is one
// atomic load per batch and nothing here runs.
func BenchmarkRetiredHold(b *testing.B) {
	k, err := GeneratePrivateKey()
	if err != nil {
		b.Fatal(err)
	}
	g := newRoamGuard(RetireHold)
	now := time.Now()
	for i := range 1000 {
		g.repoint(k.PublicKey(), newEndpoint(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 1000), netip.Addr{}, 0), now)
	}
	tb := g.table(now)
	srcs := make([]*endpoint, conn.IdealBatchSize)
	for i := range srcs {
		a := netip.AddrFrom4([4]byte{10, 1, 0, byte(i)})
		if i%8 == 0 {
			a = netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})
		}
		srcs[i] = newEndpoint(netip.AddrPortFrom(a, 1000), netip.Addr{}, 0)
	}
	eps := make([]conn.Endpoint, len(srcs))
	sizes := make([]int, len(srcs))
	for i := range sizes {
		sizes[i] = 1400
	}
	log := slog.New(slog.DiscardHandler)
	held := 0
	for b.Loop() {
		for i, s := range srcs {
			eps[i] = s
		}
		held = tb.hold(sizes, eps, now, log)
	}
	if held != len(srcs)/8 {
		b.Fatalf("held %d of %d", held, len(srcs))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(srcs)), "ns/datagram")
}
