package client

import (
	"net/netip"
	"testing"
)

// BenchmarkDiff measures one movement decision on a laptop-sized state
// (loopback, wired, Wi-Fi, cellular, two virtual bridges, IPv4 and IPv6).
func BenchmarkDiff(b *testing.B) {
	mk := func(wifiAddr string) State {
		s := State{
			Interfaces: []Interface{
				lo, eth, withAddrs(wlan, wifiAddr, "2001:db8:10::10/64", "fe80::1/64"), wwan,
				{Index: 7, Name: "docker0", Up: true, Addrs: []netip.Prefix{pfx("172.17.0.1/16")}},
				{Index: 8, Name: "virbr0", Up: true, Addrs: []netip.Prefix{pfx("192.168.122.1/24")}},
			},
			Routes: []Route{def4(2, "192.0.2.1", 100), def4(3, "198.51.100.1", 600), def6(3, "fe80::1", 1024), def4(4, "100.64.1.1", 700)},
		}
		s.Normalize()
		return s
	}
	old, cur := mk("198.51.100.10/25"), mk("198.51.100.130/25")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Diff(old, cur, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/decision")
}
