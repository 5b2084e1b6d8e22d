package tunneltest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homeip/homeip/tunnel"
)

// Traffic is implemented by data planes whose live peer state a test can
// set, as DataPlane.SetStatus does. Run uses it, when present, to check
// that SetPeer keeps a peer's handshake state; a data plane without it
// must show that with real traffic in tests of its own.
type Traffic interface {
	SetStatus(pub tunnel.Key, lastHandshake time.Time, rx, tx uint64) bool
}

// Run checks that the data planes newDataPlane returns keep every rule of
// the tunnel.DataPlane contract that can be observed without traffic:
// how SetPeer adds and replaces peers (AllowedIPs replaced exactly, an
// allowed prefix moving to the last peer that claims it, a zero Endpoint
// keeping the current one, keepalives rounded down to a second, the
// handshake state kept, prefixes listed once and masked, IPv4-mapped
// endpoints listed as IPv4), that invalid input is refused with
// tunnel.ErrInvalidPeer and changes nothing, tunnel.ErrUnknownPeer for
// operations on peers that are not configured, SetEndpoint, the range of
// SetPeerMTU and its value kept by SetPeer and forgotten with the peer,
// what Peers reports, Rebind keeping the configuration, net.ErrClosed
// from every method after Close, Close being idempotent, and concurrent
// use.
//
// newDataPlane is called once per subtest with the subtest's t and must
// return a new data plane with no peers and an interface MTU of
// tunnel.DefaultMTU, released when that t ends (Run closes some itself;
// Close is idempotent).
func Run(t *testing.T, newDataPlane func(t *testing.T) tunnel.DataPlane) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, tunnel.DataPlane)
	}{
		{"SetPeer adds peers as Peers lists them", testSetPeerAdds},
		{"SetPeer replaces AllowedIPs exactly", testReplaceAllowedIPs},
		{"SetPeer with a zero Endpoint keeps the current one", testZeroEndpointKeeps},
		{"SetPeer keeps the handshake state", testKeepsHandshake},
		{"an allowed prefix moves to the last peer claiming it", testPrefixMoves},
		{"an invalid peer is refused and nothing changes", testInvalidPeer},
		{"operations on an unknown peer", testUnknownPeer},
		{"SetEndpoint re-points", testSetEndpoint},
		{"SetPeerMTU range and lifetime", testSetPeerMTU},
		{"RemovePeer removes one peer", testRemovePeer},
		{"Rebind keeps the configuration", testRebind},
		{"every method reports net.ErrClosed after Close", testClosed},
		{"concurrent use", testConcurrent},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newDataPlane(t)) })
	}
}

var (
	prefixA4  = netip.MustParsePrefix("192.0.2.7/32")
	prefixA6  = netip.MustParsePrefix("2001:db8::7/128")
	prefixB4  = netip.MustParsePrefix("192.0.2.8/32")
	prefixLAN = netip.MustParsePrefix("198.51.100.0/24")
	endpoint4 = netip.MustParseAddrPort("198.51.100.1:51820")
	endpoint6 = netip.MustParseAddrPort("[2001:db8::1]:4500")
)

func newKey(t *testing.T) tunnel.Key {
	t.Helper()
	k, err := tunnel.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}

// peers returns the configured peers sorted by key, each with its
// AllowedIPs sorted, so that two listings compare with slices.EqualFunc.
func peers(t *testing.T, dp tunnel.DataPlane) []tunnel.PeerStatus {
	t.Helper()
	ps, err := dp.Peers()
	if err != nil {
		t.Fatalf("Peers: %v", err)
	}
	for i := range ps {
		ps[i].AllowedIPs = sortPrefixes(ps[i].AllowedIPs)
	}
	slices.SortFunc(ps, func(a, b tunnel.PeerStatus) int { return strings.Compare(a.PublicKey.String(), b.PublicKey.String()) })
	return ps
}

func sortPrefixes(ps []netip.Prefix) []netip.Prefix {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return ps
}

func samePeer(a, b tunnel.PeerStatus) bool {
	return a.PublicKey == b.PublicKey && slices.Equal(sortPrefixes(a.AllowedIPs), sortPrefixes(b.AllowedIPs)) &&
		a.Endpoint == b.Endpoint && a.PersistentKeepalive == b.PersistentKeepalive &&
		a.LastHandshake.Equal(b.LastHandshake) && a.RxBytes == b.RxBytes && a.TxBytes == b.TxBytes && a.MTU == b.MTU
}

func formatPeers(ps []tunnel.PeerStatus) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "\n\t%s allowed %v endpoint %v keepalive %v handshake %v rx %d tx %d mtu %d",
			p.PublicKey, p.AllowedIPs, p.Endpoint, p.PersistentKeepalive, p.LastHandshake, p.RxBytes, p.TxBytes, p.MTU)
	}
	if b.Len() == 0 {
		return " none"
	}
	return b.String()
}

// peerOf returns peer pub as Peers lists it, failing if it is absent.
func peerOf(t *testing.T, dp tunnel.DataPlane, pub tunnel.Key) tunnel.PeerStatus {
	t.Helper()
	for _, p := range peers(t, dp) {
		if p.PublicKey == pub {
			return p
		}
	}
	t.Fatalf("peer %s not listed", pub)
	return tunnel.PeerStatus{}
}

func setPeer(t *testing.T, dp tunnel.DataPlane, p tunnel.Peer) {
	t.Helper()
	if err := dp.SetPeer(p); err != nil {
		t.Fatalf("SetPeer(%s): %v", p.PublicKey, err)
	}
}

func wantAllowed(t *testing.T, dp tunnel.DataPlane, pub tunnel.Key, want ...netip.Prefix) {
	t.Helper()
	if got := peerOf(t, dp, pub).AllowedIPs; !slices.Equal(got, sortPrefixes(want)) {
		t.Fatalf("AllowedIPs of %s = %v, want %v", pub, got, sortPrefixes(want))
	}
}

// unchanged fails unless dp lists exactly the peers of before.
func unchanged(t *testing.T, dp tunnel.DataPlane, before []tunnel.PeerStatus, after string) {
	t.Helper()
	if now := peers(t, dp); !slices.EqualFunc(now, before, samePeer) {
		t.Fatalf("peers changed after %s:%s\nwere:%s", after, formatPeers(now), formatPeers(before))
	}
}

func testSetPeerAdds(t *testing.T, dp tunnel.DataPlane) {
	if ps := peers(t, dp); len(ps) != 0 {
		t.Fatalf("a new data plane has peers:%s", formatPeers(ps))
	}
	a, b := newKey(t), newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4, prefixA6}, Endpoint: endpoint4})
	setPeer(t, dp, tunnel.Peer{PublicKey: b, AllowedIPs: []netip.Prefix{prefixLAN}, PersistentKeepalive: 1500 * time.Millisecond})
	want := []tunnel.PeerStatus{
		{Peer: tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4, prefixA6}, Endpoint: endpoint4}},
		{Peer: tunnel.Peer{PublicKey: b, AllowedIPs: []netip.Prefix{prefixLAN}, PersistentKeepalive: time.Second}},
	}
	slices.SortFunc(want, func(x, y tunnel.PeerStatus) int { return strings.Compare(x.PublicKey.String(), y.PublicKey.String()) })
	unchanged(t, dp, want, "adding two peers (keepalive 1.5 s rounds down to 1 s)")
	// The maximum keepalive is accepted.
	setPeer(t, dp, tunnel.Peer{PublicKey: b, AllowedIPs: []netip.Prefix{prefixLAN}, PersistentKeepalive: tunnel.MaxPersistentKeepalive})
	if got := peerOf(t, dp, b).PersistentKeepalive; got != tunnel.MaxPersistentKeepalive {
		t.Fatalf("keepalive %v, want %v", got, tunnel.MaxPersistentKeepalive)
	}
}

func testReplaceAllowedIPs(t *testing.T, dp tunnel.DataPlane) {
	a := newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4, prefixA6}})
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixB4, prefixA6}})
	wantAllowed(t, dp, a, prefixB4, prefixA6)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixLAN}})
	wantAllowed(t, dp, a, prefixLAN)
	setPeer(t, dp, tunnel.Peer{PublicKey: a})
	wantAllowed(t, dp, a)
	// Listed once each, masked.
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("198.51.100.77/24"), prefixA4, prefixA4}})
	wantAllowed(t, dp, a, prefixLAN, prefixA4)
	if n := len(peers(t, dp)); n != 1 {
		t.Fatalf("%d peers after replacing one, want 1", n)
	}
}

func testZeroEndpointKeeps(t *testing.T, dp tunnel.DataPlane) {
	a, b := newKey(t), newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4}, Endpoint: endpoint4})
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA6}, PersistentKeepalive: 25 * time.Second})
	p := peerOf(t, dp, a)
	if p.Endpoint != endpoint4 || p.PersistentKeepalive != 25*time.Second {
		t.Fatalf("after SetPeer without an endpoint: endpoint %v keepalive %v, want %v and 25s", p.Endpoint, p.PersistentKeepalive, endpoint4)
	}
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA6}, Endpoint: endpoint6})
	if got := peerOf(t, dp, a).Endpoint; got != endpoint6 {
		t.Fatalf("SetPeer with an endpoint: endpoint %v, want %v", got, endpoint6)
	}
	// A new peer without an endpoint has none.
	setPeer(t, dp, tunnel.Peer{PublicKey: b})
	if got := peerOf(t, dp, b).Endpoint; got.IsValid() {
		t.Fatalf("a peer added without an endpoint has %v", got)
	}
}

func testKeepsHandshake(t *testing.T, dp tunnel.DataPlane) {
	tr, ok := dp.(Traffic)
	if !ok {
		t.Skipf("%T cannot be given traffic here; its own traffic tests check this rule", dp)
	}
	a := newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4}, Endpoint: endpoint4})
	hs := time.Unix(1_700_000_000, 0)
	if !tr.SetStatus(a, hs, 100, 200) {
		t.Fatal("SetStatus on a configured peer")
	}
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA6}, Endpoint: endpoint6})
	if p := peerOf(t, dp, a); !p.LastHandshake.Equal(hs) || p.RxBytes != 100 || p.TxBytes != 200 {
		t.Fatalf("after SetPeer: handshake %v rx %d tx %d, want %v 100 200", p.LastHandshake, p.RxBytes, p.TxBytes, hs)
	}
}

func testPrefixMoves(t *testing.T, dp tunnel.DataPlane) {
	a, b := newKey(t), newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4, prefixA6, prefixLAN}})
	setPeer(t, dp, tunnel.Peer{PublicKey: b, AllowedIPs: []netip.Prefix{prefixA6, prefixB4}})
	wantAllowed(t, dp, a, prefixA4, prefixLAN)
	wantAllowed(t, dp, b, prefixA6, prefixB4)
	// And back: a re-claims one, b keeps the rest.
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4, prefixB4}})
	wantAllowed(t, dp, a, prefixA4, prefixB4)
	wantAllowed(t, dp, b, prefixA6)
}

func testInvalidPeer(t *testing.T, dp tunnel.DataPlane) {
	a := newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4}, Endpoint: endpoint4, PersistentKeepalive: 25 * time.Second})
	before := peers(t, dp)
	good := tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA6}, Endpoint: endpoint6, PersistentKeepalive: time.Second}
	for _, c := range []struct {
		name string
		edit func(*tunnel.Peer)
	}{
		{"zero key", func(p *tunnel.Peer) { p.PublicKey = tunnel.Key{} }},
		{"invalid prefix", func(p *tunnel.Peer) { p.AllowedIPs = append(p.AllowedIPs, netip.Prefix{}) }},
		{"prefix bits out of range", func(p *tunnel.Peer) {
			p.AllowedIPs = []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr("192.0.2.1"), 33)}
		}},
		{"endpoint port 0", func(p *tunnel.Peer) { p.Endpoint = netip.MustParseAddrPort("198.51.100.1:0") }},
		{"unspecified endpoint", func(p *tunnel.Peer) { p.Endpoint = netip.MustParseAddrPort("0.0.0.0:51820") }},
		{"multicast endpoint", func(p *tunnel.Peer) { p.Endpoint = netip.MustParseAddrPort("[ff02::1]:51820") }},
		{"negative keepalive", func(p *tunnel.Peer) { p.PersistentKeepalive = -time.Second }},
		{"keepalive too long", func(p *tunnel.Peer) { p.PersistentKeepalive = tunnel.MaxPersistentKeepalive + time.Second }},
	} {
		p := good
		p.AllowedIPs = slices.Clone(good.AllowedIPs)
		c.edit(&p)
		if err := dp.SetPeer(p); !errors.Is(err, tunnel.ErrInvalidPeer) {
			t.Fatalf("SetPeer with %s = %v, want ErrInvalidPeer", c.name, err)
		}
		unchanged(t, dp, before, "SetPeer with "+c.name)
	}
	// A new peer that is invalid is not added either.
	if err := dp.SetPeer(tunnel.Peer{PublicKey: newKey(t), Endpoint: netip.MustParseAddrPort("198.51.100.1:0")}); !errors.Is(err, tunnel.ErrInvalidPeer) {
		t.Fatalf("SetPeer of a new invalid peer = %v, want ErrInvalidPeer", err)
	}
	unchanged(t, dp, before, "SetPeer of a new invalid peer")
}

func testUnknownPeer(t *testing.T, dp tunnel.DataPlane) {
	a, stranger := newKey(t), newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4}, Endpoint: endpoint4})
	before := peers(t, dp)
	check := func(who string, pub tunnel.Key) {
		t.Helper()
		if err := dp.RemovePeer(pub); !errors.Is(err, tunnel.ErrUnknownPeer) {
			t.Fatalf("RemovePeer(%s) = %v, want ErrUnknownPeer", who, err)
		}
		if err := dp.SetEndpoint(pub, endpoint6); !errors.Is(err, tunnel.ErrUnknownPeer) {
			t.Fatalf("SetEndpoint(%s) = %v, want ErrUnknownPeer", who, err)
		}
		if err := dp.SetPeerMTU(pub, 1280); !errors.Is(err, tunnel.ErrUnknownPeer) {
			t.Fatalf("SetPeerMTU(%s) = %v, want ErrUnknownPeer", who, err)
		}
	}
	check("a stranger", stranger)
	unchanged(t, dp, before, "operations on a stranger")
	// A removed peer is as unknown as one never added.
	b := newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: b})
	if err := dp.RemovePeer(b); err != nil {
		t.Fatal(err)
	}
	check("a removed peer", b)
	unchanged(t, dp, before, "operations on a removed peer")
}

func testSetEndpoint(t *testing.T, dp tunnel.DataPlane) {
	a, b := newKey(t), newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4}})
	setPeer(t, dp, tunnel.Peer{PublicKey: b, AllowedIPs: []netip.Prefix{prefixB4}, Endpoint: endpoint4})
	for _, ep := range []netip.AddrPort{endpoint4, endpoint6, netip.MustParseAddrPort("203.0.113.9:1")} {
		if err := dp.SetEndpoint(a, ep); err != nil {
			t.Fatalf("SetEndpoint(%v): %v", ep, err)
		}
		if got := peerOf(t, dp, a).Endpoint; got != ep {
			t.Fatalf("endpoint %v after SetEndpoint(%v)", got, ep)
		}
	}
	if got := peerOf(t, dp, b).Endpoint; got != endpoint4 {
		t.Fatalf("the other peer's endpoint moved to %v", got)
	}
	// IPv4-mapped endpoints are listed as IPv4, from SetEndpoint and from
	// SetPeer alike.
	mapped := netip.AddrPortFrom(netip.AddrFrom16(endpoint4.Addr().As16()), 4500)
	if err := dp.SetEndpoint(a, mapped); err != nil {
		t.Fatal(err)
	}
	if got, want := peerOf(t, dp, a).Endpoint, netip.AddrPortFrom(endpoint4.Addr(), 4500); got != want {
		t.Fatalf("endpoint %v after SetEndpoint(%v), want %v", got, mapped, want)
	}
	mapped = netip.AddrPortFrom(netip.AddrFrom16(endpoint4.Addr().As16()), endpoint4.Port())
	setPeer(t, dp, tunnel.Peer{PublicKey: b, AllowedIPs: []netip.Prefix{prefixB4}, Endpoint: mapped})
	if got := peerOf(t, dp, b).Endpoint; got != endpoint4 {
		t.Fatalf("endpoint %v after SetPeer with %v, want %v", got, mapped, endpoint4)
	}
	before := peers(t, dp)
	for _, ep := range []netip.AddrPort{{}, netip.MustParseAddrPort("198.51.100.1:0"), netip.MustParseAddrPort("[::]:51820"), netip.MustParseAddrPort("224.0.0.1:51820")} {
		if err := dp.SetEndpoint(a, ep); !errors.Is(err, tunnel.ErrInvalidPeer) {
			t.Fatalf("SetEndpoint(%v) = %v, want ErrInvalidPeer", ep, err)
		}
		unchanged(t, dp, before, fmt.Sprintf("SetEndpoint(%v)", ep))
	}
}

func testSetPeerMTU(t *testing.T, dp tunnel.DataPlane) {
	a, b := newKey(t), newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4}})
	setPeer(t, dp, tunnel.Peer{PublicKey: b, AllowedIPs: []netip.Prefix{prefixB4}})
	if got := peerOf(t, dp, a).MTU; got != 0 {
		t.Fatalf("a new peer's MTU is %d, want 0", got)
	}
	for _, bad := range []int{-1, tunnel.MinPeerMTU - 1, tunnel.DefaultMTU + 1} {
		if err := dp.SetPeerMTU(a, bad); !errors.Is(err, tunnel.ErrInvalidPeer) {
			t.Fatalf("SetPeerMTU(%d) = %v, want ErrInvalidPeer", bad, err)
		}
		if got := peerOf(t, dp, a).MTU; got != 0 {
			t.Fatalf("a refused SetPeerMTU(%d) left MTU %d", bad, got)
		}
	}
	for _, good := range []int{tunnel.MinPeerMTU, tunnel.DefaultMTU, 1220} {
		if err := dp.SetPeerMTU(a, good); err != nil {
			t.Fatalf("SetPeerMTU(%d): %v", good, err)
		}
		if got := peerOf(t, dp, a).MTU; got != good {
			t.Fatalf("MTU %d after SetPeerMTU(%d)", got, good)
		}
	}
	if got := peerOf(t, dp, b).MTU; got != 0 {
		t.Fatalf("the other peer's MTU is %d", got)
	}
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA6}, Endpoint: endpoint4})
	if got := peerOf(t, dp, a).MTU; got != 1220 {
		t.Fatalf("SetPeer did not keep the MTU: %d", got)
	}
	if err := dp.SetPeerMTU(a, 0); err != nil {
		t.Fatal(err)
	}
	if got := peerOf(t, dp, a).MTU; got != 0 {
		t.Fatalf("MTU %d after SetPeerMTU(0)", got)
	}
	if err := dp.SetPeerMTU(a, 1280); err != nil {
		t.Fatal(err)
	}
	if err := dp.RemovePeer(a); err != nil {
		t.Fatal(err)
	}
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA6}})
	if got := peerOf(t, dp, a).MTU; got != 0 {
		t.Fatalf("a removed peer kept its MTU: %d", got)
	}
}

func testRemovePeer(t *testing.T, dp tunnel.DataPlane) {
	a, b := newKey(t), newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4}, Endpoint: endpoint4})
	setPeer(t, dp, tunnel.Peer{PublicKey: b, AllowedIPs: []netip.Prefix{prefixB4}, Endpoint: endpoint6})
	want := []tunnel.PeerStatus{peerOf(t, dp, b)}
	if err := dp.RemovePeer(a); err != nil {
		t.Fatal(err)
	}
	unchanged(t, dp, want, "RemovePeer of the other peer")
	// Added again, it starts afresh: no endpoint.
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4}})
	if got := peerOf(t, dp, a).Endpoint; got.IsValid() {
		t.Fatalf("a peer added again after RemovePeer has the old endpoint %v", got)
	}
}

func testRebind(t *testing.T, dp tunnel.DataPlane) {
	a := newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4, prefixA6}, Endpoint: endpoint4, PersistentKeepalive: 25 * time.Second})
	if err := dp.SetPeerMTU(a, 1280); err != nil {
		t.Fatal(err)
	}
	before := peers(t, dp)
	for i := range 2 {
		if err := dp.Rebind(); err != nil {
			t.Fatalf("Rebind %d: %v", i+1, err)
		}
	}
	unchanged(t, dp, before, "Rebind")
}

func testClosed(t *testing.T, dp tunnel.DataPlane) {
	a := newKey(t)
	setPeer(t, dp, tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA4}, Endpoint: endpoint4})
	if err := dp.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := dp.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, peersErr := dp.Peers()
	for _, c := range []struct {
		name string
		err  error
	}{
		{"SetPeer of a known peer", dp.SetPeer(tunnel.Peer{PublicKey: a, AllowedIPs: []netip.Prefix{prefixA6}})},
		{"SetPeer of a new peer", dp.SetPeer(tunnel.Peer{PublicKey: newKey(t)})},
		{"RemovePeer", dp.RemovePeer(a)},
		{"SetEndpoint", dp.SetEndpoint(a, endpoint6)},
		{"SetPeerMTU", dp.SetPeerMTU(a, 1280)},
		{"Peers", peersErr},
		{"Rebind", dp.Rebind()},
	} {
		if !errors.Is(c.err, net.ErrClosed) {
			t.Errorf("%s after Close = %v, want net.ErrClosed", c.name, c.err)
		}
	}
	if err := dp.Close(); err != nil {
		t.Fatalf("third Close: %v", err)
	}
}

func testConcurrent(t *testing.T, dp tunnel.DataPlane) {
	const workers, rounds = 4, 20
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		k := newKey(t)
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + w)}), 32)
		wg.Go(func() {
			for range rounds {
				err := errors.Join(
					dp.SetPeer(tunnel.Peer{PublicKey: k, AllowedIPs: []netip.Prefix{pfx}}),
					dp.SetEndpoint(k, endpoint4),
					dp.SetPeerMTU(k, 1280),
					dp.Rebind(),
				)
				if _, perr := dp.Peers(); perr != nil {
					err = errors.Join(err, perr)
				}
				if err = errors.Join(err, dp.RemovePeer(k)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ps := peers(t, dp); len(ps) != 0 {
		t.Fatalf("peers left after every worker removed its own:%s", formatPeers(ps))
	}
}
