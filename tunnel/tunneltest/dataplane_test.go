package tunneltest

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/homeip/homeip/tunnel"
)

func key(t *testing.T) tunnel.Key {
	t.Helper()
	k, err := tunnel.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}

func TestFakeSemantics(t *testing.T) {
	d := New()
	a, b := key(t), key(t)
	vip := netip.MustParsePrefix("192.0.2.7/32")
	ep := netip.MustParseAddrPort("198.51.100.1:51820")

	if err := d.SetPeer(tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{vip}, Endpoint: ep, PersistentKeepalive: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	p, ok := d.Peer(a)
	if !ok || p.Endpoint != ep || p.PersistentKeepalive != time.Second || len(p.AllowedIPs) != 1 {
		t.Fatalf("peer %+v", p)
	}
	// Replacing with a zero endpoint keeps the endpoint; AllowedIPs are
	// replaced exactly.
	v6 := netip.MustParsePrefix("2001:db8::7/128")
	if err := d.SetPeer(tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{v6}}); err != nil {
		t.Fatal(err)
	}
	if p, _ := d.Peer(a); p.Endpoint != ep || len(p.AllowedIPs) != 1 || p.AllowedIPs[0] != v6 {
		t.Fatalf("after replace %+v", p)
	}
	// An AllowedIP moves to the last peer that claims it.
	if err := d.SetPeer(tunnel.Peer{PublicKey: b, AllowedIPs: []netip.Prefix{v6}}); err != nil {
		t.Fatal(err)
	}
	if p, _ := d.Peer(a); len(p.AllowedIPs) != 0 {
		t.Fatalf("a still has %v", p.AllowedIPs)
	}
	ep2 := netip.MustParseAddrPort("[2001:db8::1]:4500")
	if err := d.SetEndpoint(a, ep2); err != nil {
		t.Fatal(err)
	}
	if p, _ := d.Peer(a); p.Endpoint != ep2 {
		t.Fatalf("endpoint %v", p.Endpoint)
	}
	if !d.SetStatus(a, time.Unix(100, 0), 1, 2) {
		t.Fatal("SetStatus on a configured peer")
	}
	ps, err := d.Peers()
	if err != nil || len(ps) != 2 {
		t.Fatalf("Peers = %v, %v", ps, err)
	}
	if err := d.Rebind(); err != nil || d.Rebinds() != 1 {
		t.Fatalf("Rebind: %v, %d", err, d.Rebinds())
	}
	if err := d.RemovePeer(a); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Peer(a); ok {
		t.Fatal("removed peer still there")
	}
	kinds := []OpKind{}
	for _, op := range d.Ops() {
		kinds = append(kinds, op.Kind)
	}
	want := []OpKind{OpSetPeer, OpSetPeer, OpSetPeer, OpSetEndpoint, OpRebind, OpRemovePeer}
	if len(kinds) != len(want) {
		t.Fatalf("ops %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("ops %v, want %v", kinds, want)
		}
	}
}

func TestFakeErrors(t *testing.T) {
	d := New()
	a := key(t)
	if err := d.RemovePeer(a); !errors.Is(err, tunnel.ErrUnknownPeer) {
		t.Fatalf("RemovePeer unknown: %v", err)
	}
	if err := d.SetEndpoint(a, netip.MustParseAddrPort("198.51.100.1:1")); !errors.Is(err, tunnel.ErrUnknownPeer) {
		t.Fatalf("SetEndpoint unknown: %v", err)
	}
	if err := d.SetPeer(tunnel.Peer{}); !errors.Is(err, tunnel.ErrInvalidPeer) {
		t.Fatalf("SetPeer zero: %v", err)
	}
	if err := d.SetPeer(tunnel.Peer{PublicKey: a}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetEndpoint(a, netip.AddrPort{}); !errors.Is(err, tunnel.ErrInvalidPeer) {
		t.Fatalf("SetEndpoint zero: %v", err)
	}
	injected := errors.New("injected")
	d.Fail = func(op OpKind, _ tunnel.Key) error {
		if op == OpRemovePeer {
			return injected
		}
		return nil
	}
	if err := d.RemovePeer(a); !errors.Is(err, injected) {
		t.Fatalf("injected failure: %v", err)
	}
	if _, ok := d.Peer(a); !ok {
		t.Fatal("failed RemovePeer changed state")
	}
	d.Fail = nil
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil || !d.Closed() {
		t.Fatalf("second Close: %v", err)
	}
	if err := d.SetPeer(tunnel.Peer{PublicKey: a}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SetPeer after Close: %v", err)
	}
	if _, err := d.Peers(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Peers after Close: %v", err)
	}
}

func TestFakeConcurrent(t *testing.T) {
	d := New()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := key(t)
			for j := 0; j < 50; j++ {
				_ = d.SetPeer(tunnel.Peer{PublicKey: k})
				_, _ = d.Peers()
				_ = d.RemovePeer(k)
			}
		}()
	}
	wg.Wait()
	if ps, _ := d.Peers(); len(ps) != 0 {
		t.Fatalf("%d peers left", len(ps))
	}
}

func TestFakeActivity(t *testing.T) {
	d := New()
	k := key(t)
	if err := d.SetPeer(tunnel.Peer{PublicKey: k}); err != nil {
		t.Fatal(err)
	}
	pending := func() bool {
		select {
		case <-d.Activity():
			return true
		default:
			return false
		}
	}
	if pending() {
		t.Fatal("activity before traffic")
	}
	d.SetStatus(k, time.Time{}, 10, 0)
	d.SetStatus(k, time.Time{}, 20, 5)
	if !pending() || pending() {
		t.Error("want exactly one coalesced signal after the counters moved")
	}
	d.SetStatus(k, time.Time{}, 20, 5)
	if pending() {
		t.Error("signal without the counters moving")
	}
}

// TestFakePeerMTU checks the SetPeerMTU contract as Device implements it
// (tunnel's TestPathMTULab checks the Device): range, unknown peer, kept
// by SetPeer, forgotten by RemovePeer, shown in Peers.
func TestFakePeerMTU(t *testing.T) {
	d := New()
	a := key(t)
	if err := d.SetPeerMTU(a, 1220); !errors.Is(err, tunnel.ErrUnknownPeer) {
		t.Fatalf("unknown peer: %v", err)
	}
	if err := d.SetPeer(tunnel.Peer{PublicKey: a}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []int{-1, tunnel.MinPeerMTU - 1, tunnel.DefaultMTU + 1} {
		if err := d.SetPeerMTU(a, bad); !errors.Is(err, tunnel.ErrInvalidPeer) {
			t.Fatalf("SetPeerMTU(%d): %v", bad, err)
		}
	}
	if err := d.SetPeerMTU(a, 1220); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPeer(tunnel.Peer{PublicKey: a}); err != nil {
		t.Fatal(err)
	}
	if p, _ := d.Peer(a); p.MTU != 1220 {
		t.Fatalf("SetPeer did not keep the MTU: %d", p.MTU)
	}
	if err := d.RemovePeer(a); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPeer(tunnel.Peer{PublicKey: a}); err != nil {
		t.Fatal(err)
	}
	if p, _ := d.Peer(a); p.MTU != 0 {
		t.Fatalf("a removed peer kept its MTU: %d", p.MTU)
	}
}
