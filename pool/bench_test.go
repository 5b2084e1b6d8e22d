package pool

import (
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
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
			start, cpu0 := time.Now(), cpuTime()
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
			// The machine may be shared: also report the rate per second
			// of CPU this process actually got.
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "allocs/cpu-s")
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

// cpuTime is the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
