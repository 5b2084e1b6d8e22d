package bboltstore

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/homeip/homeip/homeagent/lease"
	"github.com/homeip/homeip/pool"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/storetest"
)

var benchPoolConfig = pool.Config{
	V4: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	V6: []netip.Prefix{netip.MustParsePrefix("fd00::/48")},
}

// bulkCreate writes n devices (and, with p, their IPv4 and IPv6 leases as
// proposed by p) straight into the file in large transactions: a fast way
// to build big stores for benchmarks.
func bulkCreate(tb testing.TB, s *Store, n int, prefix string, p *pool.Pool) {
	tb.Helper()
	// Small transactions: bbolt splits nodes only at commit, so one huge
	// transaction of random keys degrades quadratically. The build skips
	// fsync and syncs once at the end.
	const chunk = 2_000
	s.db.NoSync = true
	defer func() { s.db.NoSync = false; s.db.Sync() }()
	now := time.Now()
	for start := 0; start < n; start += chunk {
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i := start; i < min(start+chunk, n); i++ {
				d := storetest.NewDevice(fmt.Sprintf("%s%08d", prefix, i))
				d.Created = now
				if err := putDeviceWithIndexes(tx, d); err != nil {
					return err
				}
				if p == nil {
					continue
				}
				for _, fam := range []pool.Family{pool.IPv4, pool.IPv6} {
					a, err := p.Propose(d.ID, fam)
					if err != nil {
						return err
					}
					if err := putLease(tx, store.Lease{DeviceID: d.ID, Addr: a, Created: now}); err != nil {
						return err
					}
					if err := p.Hold(d.ID, a); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkDurableAssign measures durable allocations: 64 concurrent
// callers each give new devices their IPv4 and IPv6 VIPs through
// lease.AssignVIPs, every commit fsynced, group-committed by bbolt Batch.
func BenchmarkDurableAssign(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{MaxBatchDelay: benchBatchDelay()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p, err := pool.New(benchPoolConfig)
	if err != nil {
		b.Fatal(err)
	}
	bulkCreate(b, s, b.N, "bench-", nil)
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if _, err := lease.AssignVIPs(ctx, s, p, fmt.Sprintf("bench-%08d", i), start); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(2*b.N)/el, "leases/s")
	b.ReportMetric(float64(b.N)/el, "devices/s")
	b.ReportMetric((cpuTime()-cpu0).Seconds()*1e6/float64(2*b.N), "cpu-µs/lease")
}

// load1M is the big store BenchmarkLoad1M reads, built once per process.
var load1M struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func benchDevices() int {
	if n, err := strconv.Atoi(os.Getenv("HOMEIP_BENCH_DEVICES")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// BenchmarkLoad1M measures a home agent's start: opening a store of 1M
// devices, each with an IPv4 and an IPv6 lease (HOMEIP_BENCH_DEVICES
// overrides the count), and loading every lease into a fresh pool. It
// reports the load time, the pool's heap per lease and the file size, and
// separately the time of the walk the home agent's device index reads
// (record by record, and with leases grouped by device).
// Building the file takes a while the first time.
func BenchmarkLoad1M(b *testing.B) {
	n := benchDevices()
	load1M.once.Do(func() {
		load1M.dir, load1M.err = os.MkdirTemp("", "hipbench")
		if load1M.err != nil {
			return
		}
		load1M.path = filepath.Join(load1M.dir, "1m.db")
		s, err := Open(load1M.path, Options{})
		if err != nil {
			load1M.err = err
			return
		}
		p, _ := pool.New(benchPoolConfig)
		t0 := time.Now()
		bulkCreate(b, s, n, "dev-", p)
		b.Logf("built %d devices in %v", n, time.Since(t0))
		load1M.err = s.Close()
	})
	if load1M.err != nil {
		b.Fatal(load1M.err)
	}
	ctx := context.Background()
	for range b.N {
		debug.FreeOSMemory()
		rssBefore := rss()
		start, cpu0 := time.Now(), cpuTime()
		s, err := Open(load1M.path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p, _ := pool.New(benchPoolConfig)
		if err := lease.LoadPool(ctx, s, p); err != nil {
			b.Fatal(err)
		}
		el, cpu := time.Since(start), cpuTime()-cpu0
		runtime.GC()
		runtime.ReadMemStats(&after)
		rssAfter := rss()
		// What the home agent's device index reads after the pool: every
		// device and lease, decoded but not kept (the index's own maps are
		// homeagent's cost), record by record and grouped.
		t0 := time.Now()
		if err := s.Walk(ctx, store.Visitor{
			Device: func(store.Device) error { return nil },
			Lease:  func(store.Lease) error { return nil },
		}); err != nil {
			b.Fatal(err)
		}
		walk := time.Since(t0)
		t0 = time.Now()
		if err := s.WalkGrouped(ctx, func(string, []netip.Addr) error { return nil },
			store.Visitor{Device: func(store.Device) error { return nil }}); err != nil {
			b.Fatal(err)
		}
		walkGrouped := time.Since(t0)
		s.Close()
		var leases uint64
		for _, u := range p.Utilisation() {
			leases += u.Leased
		}
		if leases != uint64(2*n) {
			b.Fatalf("loaded %d leases, want %d", leases, 2*n)
		}
		b.ReportMetric(el.Seconds(), "load-s")
		b.ReportMetric(cpu.Seconds(), "load-cpu-s")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(leases), "heap-B/lease")
		b.ReportMetric(float64(int64(rssAfter)-int64(rssBefore))/float64(leases), "rss-B/lease")
		b.ReportMetric(walk.Seconds(), "index-walk-s")
		b.ReportMetric(walkGrouped.Seconds(), "index-walk-grouped-s")
		runtime.KeepAlive(p)
	}
	if fi, err := os.Stat(load1M.path); err == nil {
		b.ReportMetric(float64(fi.Size())/float64(2*n), "file-B/lease")
	}
}

// rss returns the process's resident set size in bytes (Linux), or 0.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func benchBatchDelay() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("HOMEIP_BENCH_BATCH_DELAY"))
	return d
}

// cpuTime is the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
