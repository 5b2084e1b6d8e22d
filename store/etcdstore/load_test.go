package etcdstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/homeip/homeip/homeagent/lease"
	"github.com/homeip/homeip/pool"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/storetest"
)

// bulkLeased writes n devices with an IPv4 and an IPv6 lease each, as
// proposed by p, straight into the store's keys (20 devices, 120 keys, per
// transaction).
func bulkLeased(tb testing.TB, s *Store, n int, p *pool.Pool) {
	tb.Helper()
	now := time.Now()
	for start := 0; start < n; start += 20 {
		var ops []clientv3.Op
		for i := start; i < min(start+20, n); i++ {
			d := storetest.NewDevice(fmt.Sprintf("dev-%08d", i))
			d.Created = now
			ops = append(ops, clientv3.OpPut(s.k.dev(d.ID), string(encodeDevice(d))), clientv3.OpPut(s.k.name(d.Name), d.ID))
			for _, fam := range []pool.Family{pool.IPv4, pool.IPv6} {
				a, err := p.Propose(d.ID, fam)
				if err != nil {
					tb.Fatal(err)
				}
				if err := p.Hold(d.ID, a); err != nil {
					tb.Fatal(err)
				}
				ops = append(ops, clientv3.OpPut(s.k.lease(a), string(encodeHolder(d.ID, now))),
					clientv3.OpPut(s.k.devAddr(d.ID, kindLease)+a.String(), ""))
			}
		}
		if _, err := s.cli.Txn(context.Background()).Then(ops...).Commit(); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkLoadPool measures a home agent's start on etcd: loading every
// lease of n devices (HOMEIP_BENCH_DEVICES, default 20,000), each with an
// IPv4 and an IPv6 lease, into a fresh pool through the grouped walk, and
// the Check of the whole store.
func BenchmarkLoadPool(b *testing.B) {
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("HOMEIP_BENCH_DEVICES")); err == nil && v > 0 {
		n = v
	}
	ep := startEtcd(b)
	s := openTest(b, ep)
	p, err := pool.New(sparsePool)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	bulkLeased(b, s, n, p)
	b.Logf("wrote %d devices in %v", n, time.Since(t0))
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		p, _ := pool.New(sparsePool)
		if err := lease.LoadPool(context.Background(), s, p); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		var leases uint64
		for _, u := range p.Utilisation() {
			leases += u.Leased
		}
		if leases != uint64(2*n) {
			b.Fatalf("loaded %d leases, want %d", leases, 2*n)
		}
		b.ReportMetric(el.Seconds(), "load-s")
		b.ReportMetric(float64(2*n)/el.Seconds(), "leases/s")
		start = time.Now()
		if err := s.Check(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "check-s")
		c, err := s.Counts(context.Background())
		if err != nil || c != (store.Counts{Devices: n, Leases: 2 * n}) {
			b.Fatalf("Counts = %+v, %v", c, err)
		}
	}
}
