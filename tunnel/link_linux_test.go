//go:build linux && !android

package tunnel

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkState is what ConfigureLink decides about an interface: its MTU,
// its addresses other than IPv6 link-local ones, and the destinations of
// its RouteProtocol routes, sorted.
func linkState(t *testing.T, h *netlink.Handle, name string) (mtu int, addrs, routes []netip.Prefix) {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	as, err := h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if p, ok := prefixOf(a.IPNet); ok && !p.Addr().IsLinkLocalUnicast() {
			addrs = append(addrs, p)
		}
	}
	rs, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{LinkIndex: l.Attrs().Index, Protocol: RouteProtocol},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if p, ok := prefixOf(r.Dst); ok {
			routes = append(routes, p)
		}
	}
	return l.Attrs().MTU, sortedPrefixes(addrs), sortedPrefixes(routes)
}

func sortedPrefixes(ps []netip.Prefix) []netip.Prefix {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return ps
}

func prefixes(ss ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

// TestConfigureLinkLab configures a veth standing in for the TUN (the
// configurator does not care what kind of link it is) in a namespace of
// its own, reconfigures it and clears it.
func TestConfigureLinkLab(t *testing.T) {
	requireLab(t)
	ns := labPrefix(t)
	newNetns(t, ns)
	h := netlinkAt(t, ns)
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "tun0"}, PeerName: "tun0p"}); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, c LinkConfig, wantMTU int) {
		t.Helper()
		mtu, addrs, routes := linkState(t, h, "tun0")
		if mtu != wantMTU {
			t.Errorf("MTU %d, want %d", mtu, wantMTU)
		}
		if want := sortedPrefixes(c.Addresses); !slices.Equal(addrs, want) {
			t.Errorf("addresses %v, want %v", addrs, want)
		}
		if want := sortedPrefixes(c.Routes); !slices.Equal(routes, want) {
			t.Errorf("routes %v, want %v", routes, want)
		}
	}

	first := LinkConfig{
		MTU:       1400,
		Addresses: prefixes("192.0.2.130/32", "2001:db8:100::2/128"),
		Routes:    prefixes("192.0.2.0/25", "2001:db8:1::/64", "0.0.0.0/1"),
	}
	if err := ConfigureLink(h, "tun0", first); err != nil {
		t.Fatal(err)
	}
	check(t, first, 1400)
	l, err := h.LinkByName("tun0")
	if err != nil {
		t.Fatal(err)
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		t.Error("link not up")
	}
	as, err := h.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if p, _ := prefixOf(a.IPNet); p == first.Addresses[1] && a.Flags&unix.IFA_F_TENTATIVE != 0 {
			t.Errorf("IPv6 address %v is tentative: duplicate address detection is on", p)
		}
	}
	if err := ConfigureLink(h, "tun0", first); err != nil {
		t.Fatalf("the same configuration again: %v", err)
	}
	check(t, first, 1400)

	// Someone else's address on the interface goes, someone else's route
	// (another protocol) stays.
	run(t, "ip", "-n", ns, "addr", "add", "198.18.0.1/24", "dev", "tun0")
	run(t, "ip", "-n", ns, "route", "add", "203.0.113.0/24", "dev", "tun0", "proto", "static")

	second := LinkConfig{
		Addresses: prefixes("192.0.2.131/32"),
		Routes:    prefixes("192.0.2.0/25", "2001:db8:2::/64", "10.1.2.3/8"), // the last one unmasked
	}
	if err := ConfigureLink(h, "tun0", second); err != nil {
		t.Fatal(err)
	}
	second.Routes[2] = second.Routes[2].Masked()
	check(t, second, 1400) // MTU 0 leaves it
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: l.Attrs().Index, Protocol: unix.RTPROT_STATIC},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_PROTOCOL)
	if err != nil || len(rs) != 1 {
		t.Errorf("the static route through the link: %v, %v\n%s", rs, err, run(t, "ip", "-n", ns, "route", "show", "table", "all"))
	}

	if err := ConfigureLink(h, "tun0", LinkConfig{}); err != nil {
		t.Fatal(err)
	}
	check(t, LinkConfig{}, 1400)

	if err := ConfigureLink(h, "absent0", first); err == nil {
		t.Error("configuring an absent interface succeeded")
	}
}
