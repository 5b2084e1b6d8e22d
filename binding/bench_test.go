package binding

import (
	"bytes"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

func deviceNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("dev-%07d", i)
	}
	return names
}

func fill(b *testing.B, c *Cache, names []string) {
	b.Helper()
	bu := update(1, bidWiFi, wifiEntry(1))
	var ack BindingAck
	for i, name := range names {
		obs := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), uint16(i))
		if _, err := c.ApplyInto(&ack, t0, name, bu, obs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApply1M measures binding updates per second against a cache of
// one million devices (run with -cpu 1 for the one-core figure). Each
// update refreshes a different device, with the clock advancing 1 µs per
// update so that every refresh moves the binding's expiry past the others
// (the heap's worst case); "moving" changes the observed port each time,
// so every update emits EventMoved.
func BenchmarkApply1M(b *testing.B) {
	const n = 1 << 20
	names := deviceNames(n)
	for _, moving := range []bool{false, true} {
		b.Run(fmt.Sprintf("moving=%v", moving), func(b *testing.B) {
			events := 0
			c := NewCache(Config{})
			fill(b, c, names)
			runtime.GC() // measure the steady state, not the fill's garbage collection
			bu := update(2, bidWiFi, wifiEntry(1))
			var ack BindingAck
			i := 0
			now := t0.Add(time.Second)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			cpu0, cpuOK := processCPU()
			for b.Loop() {
				dev := i & (n - 1)
				if dev == 0 {
					bu.Sequence++
				}
				port := uint16(dev)
				if moving {
					port += bu.Sequence
				}
				obs := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(dev >> 8), byte(dev)}), port)
				ev, err := c.ApplyInto(&ack, now, names[dev], bu, obs)
				if err != nil {
					b.Fatal(err)
				}
				if ev.Kind != 0 {
					events++
				}
				now = now.Add(time.Microsecond)
				i++
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "updates/s")
			if cpu1, ok := processCPU(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/update")
			}
			if moving && events < b.N {
				b.Fatalf("%d events for %d moves", events, b.N)
			}
		})
	}
}

// BenchmarkBytesPerBinding measures the heap the cache holds per device
// with one care-of entry (device names are allocated before and not
// counted; with names like "dev-0000001" they add 16 bytes each).
func BenchmarkBytesPerBinding(b *testing.B) {
	const n = 1 << 20
	names := deviceNames(n)
	var perBinding float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := NewCache(Config{})
		fill(b, c, names)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perBinding = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perBinding, "bytes/binding")
}

func BenchmarkEncodeBindingUpdate(b *testing.B) {
	bu := samples()[4].(*BindingUpdate)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = AppendFrame(buf[:0], bu)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "bytes/frame")
}

func BenchmarkDecodeBindingUpdate(b *testing.B) {
	frame, _ := Marshal(samples()[4])
	b.Run("Unmarshal", func(b *testing.B) {
		var bu BindingUpdate
		b.ReportAllocs()
		for b.Loop() {
			if err := Unmarshal(frame, &bu); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Reader", func(b *testing.B) {
		rd := bytes.NewReader(frame)
		r := NewReader(rd, 0)
		var bu BindingUpdate
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(frame)
			if _, err := r.Next(); err != nil {
				b.Fatal(err)
			}
			if err := r.Decode(&bu); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkWriteMessage(b *testing.B) {
	bu := samples()[4]
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := WriteMessage(&buf, bu); err != nil {
			b.Fatal(err)
		}
	}
}
