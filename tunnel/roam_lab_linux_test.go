//go:build linux && !android

package tunnel

import (
	"net/netip"
	"testing"
)

// TestLateDatagramsDoNotPullThePeerBack is the cellular → Wi-Fi move seen
// by the home agent. Two namespaces, ha and mn, share a veth on which mn
// has three addresses: A (the path it leaves), B (the one it moves to, as
// a binding update tells ha) and C (where a NAT rebinding takes it). mn
// chooses which address its WireGuard datagrams leave from with the
// source of its route to ha. A datagram mn sends from A after ha was
// re-pointed to B is exactly what ha sees when a datagram that was in
// flight on the old path arrives late: authenticated, from A.
func TestLateDatagramsDoNotPullThePeerBack(t *testing.T) {
	requireLab(t)
	pfx := labPrefix(t)
	nsHA, nsMN := pfx+"ha", pfx+"mn"
	newNetns(t, nsHA)
	newNetns(t, nsMN)
	run(t, "ip", "link", "add", "l1", "netns", nsHA, "type", "veth", "peer", "name", "l1", "netns", nsMN)
	run(t, "ip", "-n", nsHA, "addr", "add", "198.18.5.1/24", "dev", "l1")
	addrA, addrB, addrC := netip.MustParseAddr("198.18.5.2"), netip.MustParseAddr("198.18.5.3"), netip.MustParseAddr("198.18.5.4")
	for _, a := range []netip.Addr{addrA, addrB, addrC} {
		run(t, "ip", "-n", nsMN, "addr", "add", a.String()+"/24", "dev", "l1")
	}
	for _, ns := range []string{nsHA, nsMN} {
		run(t, "ip", "-n", ns, "link", "set", "l1", "up")
	}
	haAddr := netip.MustParseAddr("198.18.5.1")

	kHA, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	kMN, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	ha := newDeviceIn(t, nsHA, Config{
		InterfaceName: pfx + "ha",
		PrivateKey:    kHA,
		Addresses:     []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")},
		Netlink:       netlinkAt(t, nsHA),
	})
	mn := newDeviceIn(t, nsMN, Config{
		InterfaceName: pfx + "mn",
		PrivateKey:    kMN,
		Addresses:     []netip.Prefix{netip.MustParsePrefix("192.0.2.2/32")},
		Routes:        []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Netlink:       netlinkAt(t, nsMN),
	})
	if err := mn.SetPeer(Peer{
		PublicKey:  kHA.PublicKey(),
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Endpoint:   netip.AddrPortFrom(haAddr, ha.LocalPort()),
	}); err != nil {
		t.Fatal(err)
	}
	startEcho(t, nsHA)
	at := func(a netip.Addr) netip.AddrPort { return netip.AddrPortFrom(a, mn.LocalPort()) }

	// sendFrom makes mn's next WireGuard datagrams to ha leave from a:
	// the route's source, and a rebind so that mn forgets the sticky
	// source it learnt from ha's last reply.
	sendFrom := func(a netip.Addr) {
		t.Helper()
		run(t, "ip", "-n", nsMN, "route", "replace", haAddr.String()+"/32", "dev", "l1", "src", a.String())
		if err := mn.Rebind(); err != nil {
			t.Fatal(err)
		}
	}
	// exchange sends an echo through the tunnel from mn to ha and back,
	// and returns ha's endpoint for mn afterwards and what ha received.
	exchange := func() (netip.AddrPort, uint64) {
		t.Helper()
		if err := probe(t, nsMN, netip.MustParseAddr("192.0.2.1"), 5); err != nil {
			t.Fatal(err)
		}
		st := peerOf(t, ha, kMN.PublicKey())
		return st.Endpoint, st.RxBytes
	}

	// The device registers on A.
	if err := ha.SetPeer(Peer{
		PublicKey:  kMN.PublicKey(),
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.2/32")},
		Endpoint:   at(addrA),
	}); err != nil {
		t.Fatal(err)
	}
	sendFrom(addrA)
	if ep, _ := exchange(); ep != at(addrA) {
		t.Fatalf("registered on A: ha's endpoint %v, want %v", ep, at(addrA))
	}

	// It moves to B; then a datagram from A arrives late.
	if err := ha.SetEndpoint(kMN.PublicKey(), at(addrB)); err != nil {
		t.Fatal(err)
	}
	rx0 := peerOf(t, ha, kMN.PublicKey()).RxBytes
	sendFrom(addrA)
	ep, rx1 := exchange()
	if rx1 <= rx0 {
		t.Fatalf("ha received nothing from A (%d → %d bytes)", rx0, rx1)
	}
	if ep != at(addrB) {
		t.Fatalf("a late datagram from A pulled the peer back to %v; want %v", ep, at(addrB))
	}
	if st := ha.RetiredStats(); st.Retired != 1 || st.Held == 0 {
		t.Fatalf("RetiredStats = %+v, want 1 retired and datagrams held", st)
	}

	// The device goes back to A: the binding names A, which is no longer
	// retired; now B is, and a late datagram from B is held.
	if err := ha.SetEndpoint(kMN.PublicKey(), at(addrA)); err != nil {
		t.Fatal(err)
	}
	sendFrom(addrA)
	if ep, _ := exchange(); ep != at(addrA) {
		t.Fatalf("back on A: ha's endpoint %v, want %v", ep, at(addrA))
	}
	sendFrom(addrB)
	if ep, _ := exchange(); ep != at(addrA) {
		t.Fatalf("a late datagram from B pulled the peer to %v; want %v", ep, at(addrA))
	}

	// A NAT rebinding: the device's datagrams come from a new address,
	// C, that no binding named or retired. WireGuard follows at once.
	sendFrom(addrC)
	if ep, _ := exchange(); ep != at(addrC) {
		t.Fatalf("datagram from a new address C: ha's endpoint %v, want %v (roaming followed)", ep, at(addrC))
	}
	if st := ha.RetiredStats(); st.Retired != 2 {
		t.Fatalf("RetiredStats = %+v, want 2 retired", st)
	}
}
