package tunneltest

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/homeip/homeip/tunnel"
)

// TestConformance runs the DataPlane contract against the fake; tunnel's
// TestDeviceConformanceLab runs the same against the Device.
func TestConformance(t *testing.T) {
	Run(t, func(t *testing.T) tunnel.DataPlane {
		d := New()
		t.Cleanup(func() { d.Close() })
		return d
	})
}

// TestFakeRecordsOps checks what the fake adds to the contract: the
// record of successful calls, Peer and Closed.
func TestFakeRecordsOps(t *testing.T) {
	d := New()
	a := newKey(t)
	given := tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4}, PersistentKeepalive: 1500 * time.Millisecond}
	if err := d.SetPeer(given); err != nil {
		t.Fatal(err)
	}
	if err := d.SetEndpoint(a, endpoint4); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPeerMTU(a, 1280); err != nil {
		t.Fatal(err)
	}
	if err := d.SetEndpoint(a, netip.AddrPort{}); err == nil {
		t.Fatal("SetEndpoint with no endpoint succeeded")
	}
	if err := d.Rebind(); err != nil || d.Rebinds() != 1 {
		t.Fatalf("Rebind: %v, %d", err, d.Rebinds())
	}
	if p, ok := d.Peer(a); !ok || p.Endpoint != endpoint4 || p.MTU != 1280 {
		t.Fatalf("Peer(a) = %+v, %v", p, ok)
	}
	if err := d.RemovePeer(a); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Peer(a); ok {
		t.Fatal("Peer finds a removed peer")
	}
	if d.Closed() {
		t.Fatal("Closed before Close")
	}
	if err := d.Close(); err != nil || !d.Closed() {
		t.Fatalf("Close: %v, Closed %v", err, d.Closed())
	}
	want := []Op{
		{Kind: OpSetPeer, Peer: given, Key: a},
		{Kind: OpSetEndpoint, Key: a, Endpoint: endpoint4},
		{Kind: OpSetPeerMTU, Key: a, MTU: 1280},
		{Kind: OpRebind},
		{Kind: OpRemovePeer, Key: a},
		{Kind: OpClose},
	}
	got := d.Ops()
	if !slices.EqualFunc(got, want, func(x, y Op) bool {
		return x.Kind == y.Kind && x.Key == y.Key && x.Endpoint == y.Endpoint && x.MTU == y.MTU &&
			x.Peer.PublicKey == y.Peer.PublicKey && slices.Equal(x.Peer.AllowedIPs, y.Peer.AllowedIPs) &&
			x.Peer.PersistentKeepalive == y.Peer.PersistentKeepalive
	}) {
		t.Fatalf("ops %+v\nwant %+v", got, want)
	}
}

// TestFakeFail checks failure injection: the error is returned and
// nothing changes or is recorded.
func TestFakeFail(t *testing.T) {
	d := New()
	a := newKey(t)
	if err := d.SetPeer(tunnel.Peer{PublicKey: a}); err != nil {
		t.Fatal(err)
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
	if n := len(d.Ops()); n != 1 {
		t.Fatalf("%d ops recorded, want only the SetPeer", n)
	}
	d.Fail = nil
	if err := d.RemovePeer(a); err != nil {
		t.Fatal(err)
	}
}

func TestFakeActivity(t *testing.T) {
	d := New()
	k := newKey(t)
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
	if d.SetStatus(newKey(t), time.Time{}, 1, 1) {
		t.Error("SetStatus reports an unknown peer as configured")
	}
}
