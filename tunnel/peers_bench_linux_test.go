//go:build linux && !android

package tunnel

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// benchDevice is a Device with no traffic in a fresh namespace.
func benchDevice(b *testing.B) *Device {
	b.Helper()
	requireLab(b)
	ns := labPrefix(b)
	newNetns(b, ns)
	k, err := GeneratePrivateKey()
	if err != nil {
		b.Fatal(err)
	}
	return newDeviceIn(b, ns, Config{InterfaceName: ns, PrivateKey: k,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8"), netip.MustParsePrefix("2001:db8::1/64")}})
}

// benchPeer is the peer a home agent materialises for device i: its two
// VIPs and an endpoint in the test range.
func benchPeer(b *testing.B, i int) Peer {
	k, err := GeneratePrivateKey()
	if err != nil {
		b.Fatal(err)
	}
	v4 := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	var a16 [16]byte
	copy(a16[:], netip.MustParseAddr("2001:db8::").AsSlice())
	a16[13], a16[14], a16[15] = byte(i>>16), byte(i>>8), byte(i)
	return Peer{
		PublicKey:           k.PublicKey(),
		AllowedIPs:          []netip.Prefix{netip.PrefixFrom(v4, 32), netip.PrefixFrom(netip.AddrFrom16(a16), 128)},
		Endpoint:            netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 51820),
		PersistentKeepalive: 0,
	}
}

// BenchmarkPeerChurn measures the cost of materialising, re-pointing and
// retiring one peer on a live device that already holds 1000 peers.
func BenchmarkPeerChurn(b *testing.B) {
	d := benchDevice(b)
	for i := 0; i < 1000; i++ {
		if err := d.SetPeer(benchPeer(b, i)); err != nil {
			b.Fatal(err)
		}
	}
	peers := make([]Peer, 256)
	for i := range peers {
		peers[i] = benchPeer(b, 100000+i)
	}
	b.Run("add", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p := peers[i%len(peers)]
			if err := d.SetPeer(p); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := d.RemovePeer(p.PublicKey); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("repoint", func(b *testing.B) {
		p := peers[0]
		if err := d.SetPeer(p); err != nil {
			b.Fatal(err)
		}
		eps := []netip.AddrPort{netip.MustParseAddrPort("198.51.100.1:4500"), netip.MustParseAddrPort("[2001:db8:5::1]:4500")}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := d.SetEndpoint(p.PublicKey, eps[i%2]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		d.RemovePeer(p.PublicKey)
	})
	b.Run("remove", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p := peers[i%len(peers)]
			b.StopTimer()
			if err := d.SetPeer(p); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := d.RemovePeer(p.PublicKey); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTenThousandPeers reports the heap and goroutines that 10k
// configured peers cost on a live device.
func BenchmarkTenThousandPeers(b *testing.B) {
	const n = 10000
	for iter := 0; iter < b.N; iter++ {
		b.StopTimer()
		d := benchDevice(b)
		peers := make([]Peer, n)
		for i := range peers {
			peers[i] = benchPeer(b, i)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		b.StartTimer()
		start := time.Now()
		for _, p := range peers {
			if err := d.SetPeer(p); err != nil {
				b.Fatal(err)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		g1 := runtime.NumGoroutine()
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heapB/peer")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heapMiB/10k")
		b.ReportMetric(float64(g1-g0)/n, "goroutines/peer")
		b.ReportMetric(float64(elapsed.Microseconds())/n, "µs/add")
		start = time.Now()
		for _, p := range peers {
			if err := d.RemovePeer(p.PublicKey); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/n, "µs/remove")
		d.Close()
	}
}
