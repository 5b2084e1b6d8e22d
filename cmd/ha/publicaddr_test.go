package main

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/homeip/homeip/homeagent/config"
)

// TestDetectedAddrsOrder: addresses other networks can reach come first in
// the tokens; pool addresses, link-local and loopback never appear.
func TestDetectedAddrsOrder(t *testing.T) {
	cfg := config.Config{Listen: netip.MustParseAddrPort("[::]:51830"), Pool4: []netip.Prefix{netip.MustParsePrefix("10.77.0.0/16")}}
	ipnet := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	ifaddrs := []net.Addr{ipnet("127.0.0.1/8"), ipnet("192.168.1.10/24"), ipnet("10.77.0.1/16"), ipnet("fe80::1/64"),
		ipnet("fd00:1::5/64"), ipnet("203.0.113.9/24"), ipnet("2001:db8::9/64")}
	got := orderPublicAddrs(hostAddrs(ifaddrs, cfg))
	want := []netip.AddrPort{
		netip.MustParseAddrPort("203.0.113.9:51830"), netip.MustParseAddrPort("[2001:db8::9]:51830"),
		netip.MustParseAddrPort("192.168.1.10:51830"), netip.MustParseAddrPort("[fd00:1::5]:51830"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
