package lease_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/homeip/homeip/homeagent/lease"
	"github.com/homeip/homeip/pool"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/bboltstore"
	"github.com/homeip/homeip/store/storetest"
)

var (
	ctx = context.Background()
	t0  = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
)

func openStore(t *testing.T) *bboltstore.Store {
	t.Helper()
	s, err := bboltstore.Open(filepath.Join(t.TempDir(), "homeip.db"), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newPool(t *testing.T, text string) *pool.Pool {
	t.Helper()
	cfg, err := pool.ParseConfig([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pool.New(cfg, pool.WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func create(t *testing.T, s store.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.CreateDevice(ctx, storetest.NewDevice(id)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAssignVIPsSticky(t *testing.T) {
	const cfg = "v4 10.77.0.0/24\nv6 fd77::/64\nexclude 10.77.0.1 fd77::1"
	s := openStore(t)
	p := newPool(t, cfg)
	create(t, s, "a", "b")
	ls, err := lease.AssignVIPs(ctx, s, p, "a", t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || !ls[0].Addr.Is4() || !ls[1].Addr.Is6() {
		t.Fatalf("leases = %+v", ls)
	}
	again, err := lease.AssignVIPs(ctx, s, p, "a", t0.Add(time.Hour))
	if err != nil || again[0].Addr != ls[0].Addr || again[1].Addr != ls[1].Addr || !again[0].Created.Equal(t0) {
		t.Fatalf("second assignment = %+v, %v", again, err)
	}
	// A restarted home agent (fresh pool loaded from the store) gives the
	// same addresses.
	p2 := newPool(t, cfg)
	if err := lease.LoadPool(ctx, s, p2); err != nil {
		t.Fatal(err)
	}
	for i, fam := range []pool.Family{pool.IPv4, pool.IPv6} {
		if a, err := p2.Propose("a", fam); err != nil || a != ls[i].Addr {
			t.Fatalf("after restart: %v %v, want %v", a, err, ls[i].Addr)
		}
	}
	// Unknown and revoked devices get nothing.
	if _, err := lease.AssignVIPs(ctx, s, p, "zz", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
	if err := s.RevokeDevice(ctx, "b", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := lease.AssignVIPs(ctx, s, p, "b", t0); !errors.Is(err, store.ErrRevoked) {
		t.Fatalf("revoked device: %v", err)
	}
	// A revoked device that holds its VIPs gets them no more either.
	if err := s.RevokeDevice(ctx, "a", t0); err != nil {
		t.Fatal(err)
	}
	if ls, err := lease.AssignVIPs(ctx, s, p, "a", t0); !errors.Is(err, store.ErrRevoked) {
		t.Fatalf("revoked device holding leases: %+v, %v", ls, err)
	}
}

func TestReserveAndRemove(t *testing.T) {
	s := openStore(t)
	p := newPool(t, "v4 10.77.0.0/24\nv6 fd77::/64")
	create(t, s, "a", "b")
	ls, err := lease.AssignVIPs(ctx, s, p, "a", t0)
	if err != nil {
		t.Fatal(err)
	}
	pin := netip.MustParseAddr("10.77.0.200")
	if ls[0].Addr == pin {
		pin = netip.MustParseAddr("10.77.0.201")
	}
	if err := lease.ReserveVIP(ctx, s, p, "a", pin, t0); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Leases(ctx, "a")
	if got[0].Addr != pin {
		t.Fatalf("store lease after reservation: %+v", got)
	}
	if a, _ := p.Propose("a", pool.IPv4); a != pin {
		t.Fatalf("pool proposes %v after reservation", a)
	}
	if err := lease.ReserveVIP(ctx, s, p, "b", pin, t0); !errors.Is(err, pool.ErrInUse) {
		t.Fatalf("reserving someone else's address: %v", err)
	}
	if err := lease.ReserveVIP(ctx, s, p, "b", netip.MustParseAddr("192.0.2.1"), t0); !errors.Is(err, pool.ErrOutside) {
		t.Fatalf("reserving outside the pool: %v", err)
	}
	if err := lease.RemoveDevice(ctx, s, p, "a", t0); err != nil {
		t.Fatal(err)
	}
	for _, u := range p.Utilisation() {
		// IPv4: the address the reservation moved away from, and the
		// reserved one; IPv6: the one lease.
		want := map[pool.Family]uint64{pool.IPv4: 2, pool.IPv6: 1}[u.Family]
		if u.Leased != 0 || u.Reserved != 0 || u.Quarantined != want {
			t.Fatalf("IPv%d usage after removal: %+v", u.Family, u)
		}
	}
	// The released addresses are not handed to b.
	lb, err := lease.AssignVIPs(ctx, s, p, "b", t0)
	if err != nil {
		t.Fatal(err)
	}
	if lb[0].Addr == pin || lb[1].Addr == ls[1].Addr {
		t.Fatalf("quarantined address reused: %+v", lb)
	}
}

// TestTwoPoolsOneStore is the multi-home-agent case: two pools share one
// store, each unaware of the other's allocations. The store refuses every
// double allocation and AssignVIPs retries until each device has its own
// address.
func TestTwoPoolsOneStore(t *testing.T) {
	s := openStore(t)
	const cfg = "v4 10.77.0.0/26\nv6 fd77::/122"
	pools := []*pool.Pool{newPool(t, cfg), newPool(t, cfg)}
	const n = 40
	for i := range n {
		create(t, s, fmt.Sprint("d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := lease.AssignVIPs(ctx, s, pools[i%2], fmt.Sprint("d", i), t0)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[netip.Addr]string{}
	err := s.Walk(ctx, store.Visitor{Lease: func(l store.Lease) error {
		if h, dup := seen[l.Addr]; dup {
			return fmt.Errorf("%v held by %s and %s", l.Addr, h, l.DeviceID)
		}
		seen[l.Addr] = l.DeviceID
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2*n {
		t.Fatalf("%d leases, want %d", len(seen), 2*n)
	}
}

func TestAssignExhausted(t *testing.T) {
	s := openStore(t)
	p := newPool(t, "v4 192.0.2.0/30")
	create(t, s, "a", "b", "c")
	for _, id := range []string{"a", "b"} {
		if _, err := lease.AssignVIPs(ctx, s, p, id, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lease.AssignVIPs(ctx, s, p, "c", t0); !errors.Is(err, pool.ErrExhausted) {
		t.Fatalf("full pool: %v", err)
	}
	if ls, _ := s.Leases(ctx, "c"); len(ls) != 0 {
		t.Fatalf("exhaustion left leases: %v", ls)
	}
}

func TestLoadPoolReportsStrandedLeases(t *testing.T) {
	s := openStore(t)
	create(t, s, "a", "b")
	for id, a := range map[string]string{"a": "10.1.0.5", "b": "10.2.0.5"} {
		if err := s.CommitLease(ctx, store.Lease{DeviceID: id, Addr: netip.MustParseAddr(a), Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	// The configuration lost 10.2.0.0/16 while the home agent was down.
	p := newPool(t, "v4 10.1.0.0/16")
	err := lease.LoadPool(ctx, s, p)
	var le *lease.LoadError
	if !errors.As(err, &le) || len(le.Refused) != 1 || le.Refused[0].DeviceID != "b" || !errors.Is(err, pool.ErrOutside) {
		t.Fatalf("LoadPool = %v", err)
	}
}
