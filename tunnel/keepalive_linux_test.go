package tunnel

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestSendKeepaliveMovesThePeerLab: a device that moved sends a keepalive
// from its new path, and the home agent's WireGuard follows it there
// without being re-pointed.
func TestSendKeepaliveMovesThePeerLab(t *testing.T) {
	p := newPair(t)
	if err := probe(t, p.nsB, vipA, 5); err != nil {
		t.Fatal(err)
	}
	old := peerOf(t, p.a, p.kB.PublicKey()).Endpoint
	if !old.Addr().Is4() {
		t.Fatalf("home agent's endpoint for the device = %v, want its IPv4 address", old)
	}

	// The device "moves" to l2: it talks to the home agent's IPv6 address
	// from now on, and announces itself with a keepalive.
	haV6 := netip.AddrPortFrom(netip.MustParseAddr("2001:db8:2::1"), p.a.LocalPort())
	if err := p.b.SetEndpoint(p.kA.PublicKey(), haV6); err != nil {
		t.Fatal(err)
	}
	if err := p.b.SendKeepalive(p.kA.PublicKey()); err != nil {
		t.Fatal(err)
	}
	want := netip.AddrPortFrom(netip.MustParseAddr("2001:db8:2::2"), p.b.LocalPort())
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := peerOf(t, p.a, p.kB.PublicKey()).Endpoint
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("home agent's endpoint for the device = %v after the keepalive, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}

	unknown, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.b.SendKeepalive(unknown.PublicKey()); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("keepalive to an unknown peer: %v, want ErrUnknownPeer", err)
	}
	if err := p.b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.b.SendKeepalive(p.kA.PublicKey()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("keepalive after Close: %v, want net.ErrClosed", err)
	}
}
