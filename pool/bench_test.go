package pool

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// BenchmarkAllocate measures in-memory allocations (Propose + Hold for a
// new device) on one goroutine.
func BenchmarkAllocate(b *testing.B) {
	for _, fam := range []Family{IPv4, IPv6} {
		b.Run(fmt.Sprintf("IPv%d", fam), func(b *testing.B) {
			cfg := Config{V4: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, V6: []netip.Prefix{netip.MustParsePrefix("fd00::/48")}}
			p, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = fmt.Sprintf("device-%08d", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				a, err := p.Propose(ids[i], fam)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Hold(ids[i], a); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "allocs/s")
		})
	}
}

// BenchmarkMemory reports the heap a pool needs per lease, with every
// device holding an IPv4 and an IPv6 address.
func BenchmarkMemory(b *testing.B) {
	const devices = 200_000
	for range b.N {
		cfg := Config{V4: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, V6: []netip.Prefix{netip.MustParsePrefix("fd00::/48")}}
		ids := make([]string, devices)
		for i := range ids {
			ids[i] = fmt.Sprintf("device-%08d", i)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		p, _ := New(cfg)
		for _, id := range ids {
			for _, fam := range []Family{IPv4, IPv6} {
				a, err := p.Propose(id, fam)
				if err != nil {
					b.Fatal(err)
				}
				p.Hold(id, a)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(2*devices), "heap-B/lease")
		runtime.KeepAlive(p)
	}
}
