package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/homeip/homeip/homeagent/lease"
	"github.com/homeip/homeip/pool"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/storetest"
)

// sparsePool is the allocation tests' sparse pool: the agents' pools
// (which derive each device's candidates from its id) rarely propose the
// same address.
var sparsePool = pool.Config{
	V4: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	V6: []netip.Prefix{netip.MustParsePrefix("fd00::/48")},
}

// densePool returns prefixes that n devices fill to between a third and
// two thirds: the agents' proposals collide often (the linear probe of
// one agent's pool walks into addresses the others took), so much of the
// work is conflicts and their retries.
func densePool(n int) pool.Config {
	bits := bitsFor(3 * n / 2)
	return pool.Config{
		V4: []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr("10.64.0.0"), 32-bits)},
		V6: []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr("fd00::"), 128-bits)},
	}
}

// bitsFor is the number of host bits that hold n addresses.
func bitsFor(n int) int {
	b := 1
	for 1<<b < n+2 {
		b++
	}
	return b
}

// countingStore counts the conflicts CommitLease reports: each is a lost
// race between home agents proposing the same address.
type countingStore struct {
	store.Store
	conflicts *atomic.Int64
}

func (c countingStore) CommitLease(ctx context.Context, ls ...store.Lease) error {
	err := c.Store.CommitLease(ctx, ls...)
	if errors.Is(err, store.ErrAddrInUse) {
		c.conflicts.Add(1)
	}
	return err
}

// bulkCreate writes n devices with ids prefix00000000... straight into
// the store's keys, 60 devices (120 keys) per transaction.
func bulkCreate(tb testing.TB, s *Store, n int, prefix string) []string {
	tb.Helper()
	ids := make([]string, n)
	now := time.Now()
	for start := 0; start < n; start += 60 {
		var ops []clientv3.Op
		for i := start; i < min(start+60, n); i++ {
			d := storetest.NewDevice(fmt.Sprintf("%s%08d", prefix, i))
			d.Created = now
			ids[i] = d.ID
			ops = append(ops, clientv3.OpPut(s.k.dev(d.ID), string(encodeDevice(d))), clientv3.OpPut(s.k.name(d.Name), d.ID))
		}
		if _, err := s.cli.Txn(context.Background()).Then(ops...).Commit(); err != nil {
			tb.Fatal(err)
		}
	}
	return ids
}

// allocation is the outcome of allocate.
type allocation struct {
	elapsed   time.Duration
	conflicts int64
	leases    map[string][]store.Lease // by device, as AssignVIPs returned them
}

// allocate gives every device its IPv4 and IPv6 VIPs with
// lease.AssignVIPs, device i through stores[i%len(stores)] and that
// store's own pool (as one of several home agents would), with workers
// concurrent callers per store.
func allocate(tb testing.TB, cfg pool.Config, stores []*Store, ids []string, workers int) allocation {
	tb.Helper()
	var conflicts atomic.Int64
	type agent struct {
		s store.Store
		p *pool.Pool
	}
	agents := make([]agent, len(stores))
	for i, s := range stores {
		p, err := pool.New(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		agents[i] = agent{countingStore{s, &conflicts}, p}
	}
	out := allocation{leases: make(map[string][]store.Lease, len(ids))}
	var mu sync.Mutex
	next := make([]atomic.Int64, len(agents)) // per agent
	var wg sync.WaitGroup
	ctx := context.Background()
	start := time.Now()
	for ai := range agents {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					// Each agent takes the devices i ≡ ai (mod agents).
					i := int(next[ai].Add(1)-1)*len(agents) + ai
					if i >= len(ids) {
						return
					}
					ls, err := lease.AssignVIPs(ctx, agents[ai].s, agents[ai].p, ids[i], start)
					if err != nil {
						tb.Errorf("agent %d: %v", ai, err)
						return
					}
					mu.Lock()
					out.leases[ids[i]] = ls
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	out.conflicts = conflicts.Load()
	return out
}

// verify checks an allocation against etcd's keys, read directly: every
// device holds one IPv4 and one IPv6 lease, the ones AssignVIPs returned,
// and no address went to two devices. It returns the duplicates found.
func verify(tb testing.TB, endpoint string, s *Store, ids []string, got allocation) int {
	tb.Helper()
	dups := 0
	owner := map[netip.Addr]string{}
	for id, ls := range got.leases {
		if len(ls) != 2 || !ls[0].Addr.Is4() || !ls[1].Addr.Is6() {
			tb.Errorf("device %s got %v, want one IPv4 and one IPv6 lease", id, ls)
		}
		for _, l := range ls {
			if prev, dup := owner[l.Addr]; dup {
				tb.Errorf("%v allocated to %s and %s", l.Addr, prev, id)
				dups++
			}
			owner[l.Addr] = id
		}
	}
	if len(got.leases) != len(ids) {
		tb.Errorf("%d devices allocated, want %d", len(got.leases), len(ids))
	}
	c := rawClient(tb, endpoint)
	resp, err := c.Get(context.Background(), s.k.leases(), clientv3.WithPrefix())
	if err != nil {
		tb.Fatal(err)
	}
	if len(resp.Kvs) != 2*len(ids) {
		tb.Errorf("etcd holds %d lease keys, want %d", len(resp.Kvs), 2*len(ids))
	}
	inEtcd := map[netip.Addr]bool{}
	for _, kv := range resp.Kvs {
		a, err := netip.ParseAddr(strings.TrimPrefix(string(kv.Key), s.k.leases()))
		if err != nil {
			tb.Fatalf("lease key %q: %v", kv.Key, err)
		}
		if inEtcd[a] {
			tb.Errorf("etcd holds two lease keys for %v", a)
			dups++
		}
		inEtcd[a] = true
		id, _, err := decodeHolder("lease", kv.Value)
		if err != nil {
			tb.Fatal(err)
		}
		if owner[a] != id {
			tb.Errorf("etcd leases %v to %q, AssignVIPs gave it to %q", a, id, owner[a])
		}
	}
	if err := s.Check(context.Background()); err != nil {
		tb.Errorf("check: %v", err)
	}
	return dups
}

// lostRaces sums the transactions of the stores whose compares failed.
func lostRaces(stores []*Store) int64 {
	var n int64
	for _, s := range stores {
		n += s.lostRaces.Load()
	}
	return n
}

// startAgents starts an embedded etcd and opens three stores on one
// prefix of it, as three home agents sharing the cluster would.
func startAgents(tb testing.TB) (string, []*Store) {
	ep := startEtcd(tb)
	stores := []*Store{openTest(tb, ep), nil, nil}
	for i := 1; i < len(stores); i++ {
		s, err := Open(context.Background(), Config{Endpoints: []string{ep}, Prefix: stores[0].Prefix()})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	return ep, stores
}

// TestConcurrentAllocation has three home agents (three Stores, three
// pools) on one etcd allocate VIPs for 1,000 devices at once
// (HOMEIP_ALLOC_DEVICES=10000 for the full size, which takes one to
// several minutes with -race, most of it in the dense pool;
// BenchmarkConcurrentAllocation runs it too), 32 callers per
// agent, each agent's pool proposing without
// knowing the others': every address must end up with one device, in a
// sparse pool and in a dense one where proposals collide.
func TestConcurrentAllocation(t *testing.T) {
	n := 1_000
	if v, err := strconv.Atoi(os.Getenv("HOMEIP_ALLOC_DEVICES")); err == nil && v > 0 {
		n = v
	}
	for _, tc := range []struct {
		name string
		cfg  pool.Config
	}{{"sparse", sparsePool}, {"dense", densePool(n)}} {
		t.Run(tc.name, func(t *testing.T) {
			ep, stores := startAgents(t)
			ids := bulkCreate(t, stores[0], n, "dev-")
			got := allocate(t, tc.cfg, stores, ids, 32)
			dups := verify(t, ep, stores[0], ids, got)
			t.Logf("%d allocations (%d leases) over 3 stores in %v: %.0f allocs/s, %d conflicts, %d lost races, %d duplicate addresses",
				n, 2*n, got.elapsed.Round(time.Millisecond), float64(n)/got.elapsed.Seconds(), got.conflicts, lostRaces(stores), dups)
		})
	}
}

// BenchmarkConcurrentAllocation measures durable allocations with three
// home agents sharing one embedded etcd: b.N devices (run with
// -benchtime=10000x for the full 10,000) get their IPv4 and IPv6 VIPs
// through lease.AssignVIPs, 32 callers per agent, in the sparse and the
// dense pool.
func BenchmarkConcurrentAllocation(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  func(n int) pool.Config
	}{{"sparse", func(int) pool.Config { return sparsePool }}, {"dense", densePool}} {
		b.Run(tc.name, func(b *testing.B) {
			ep, stores := startAgents(b)
			ids := bulkCreate(b, stores[0], b.N, "bench-")
			b.ResetTimer()
			got := allocate(b, tc.cfg(b.N), stores, ids, 32)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/got.elapsed.Seconds(), "allocs/s")
			b.ReportMetric(float64(2*b.N)/got.elapsed.Seconds(), "leases/s")
			b.ReportMetric(float64(got.conflicts)/float64(b.N), "conflicts/alloc")
			b.ReportMetric(float64(lostRaces(stores))/float64(b.N), "lost-races/alloc")
			b.ReportMetric(float64(verify(b, ep, stores[0], ids, got)), "duplicates")
		})
	}
}
