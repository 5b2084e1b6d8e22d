package lease_test

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/homeip/homeip/homeagent/lease"
	"github.com/homeip/homeip/pool"
	"github.com/homeip/homeip/store"
)

// plainStore hides the store's LeaseGrouper extension, so that LoadPool
// takes the record-by-record path.
type plainStore struct{ store.Store }

// TestLoadPoolGroupedMatchesWalk loads the same store into two pools, one
// device by device (bboltstore is a LeaseGrouper) and one record by
// record, and checks they know the same leases, reservations and
// quarantine.
func TestLoadPoolGroupedMatchesWalk(t *testing.T) {
	s := openStore(t)
	const cfg = "v4 10.1.0.0/24\nv6 fd01::/64\nquarantine 24h"
	p := newPool(t, cfg)
	var ids []string
	for i := range 40 {
		id := fmt.Sprintf("dev-%02d", i)
		ids = append(ids, id)
		create(t, s, id)
		if i%5 == 4 {
			continue // no leases
		}
		if _, err := lease.AssignVIPs(ctx, s, p, id, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := lease.ReserveVIP(ctx, s, p, "dev-03", netip.MustParseAddr("10.1.0.200"), t0); err != nil {
		t.Fatal(err)
	}
	if err := lease.ReserveVIP(ctx, s, p, "dev-04", netip.MustParseAddr("fd01::4"), t0); err != nil {
		t.Fatal(err)
	}
	if err := lease.RemoveDevice(ctx, s, p, "dev-07", t0); err != nil {
		t.Fatal(err)
	}

	grouped, plain := newPool(t, cfg), newPool(t, cfg)
	if err := lease.LoadPool(ctx, s, grouped); err != nil {
		t.Fatal(err)
	}
	if err := lease.LoadPool(ctx, plainStore{s}, plain); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if g, w := grouped.Addrs(id), plain.Addrs(id); !slices.Equal(g, w) {
			t.Errorf("%s holds %v loaded grouped, %v loaded record by record", id, g, w)
		}
		if g, w := grouped.Addrs(id), p.Addrs(id); !slices.Equal(g, w) {
			t.Errorf("%s holds %v loaded grouped, %v in the pool that assigned", id, g, w)
		}
		if g, w := grouped.Reservations(id), plain.Reservations(id); !slices.Equal(g, w) {
			t.Errorf("%s reserves %v loaded grouped, %v loaded record by record", id, g, w)
		}
	}
	if g, w := grouped.Utilisation(), plain.Utilisation(); !reflect.DeepEqual(g, w) {
		t.Errorf("utilisation %+v loaded grouped, %+v record by record", g, w)
	}
	if g, w := grouped.Utilisation(), p.Utilisation(); !reflect.DeepEqual(g, w) {
		t.Errorf("utilisation %+v loaded grouped, %+v in the pool that assigned", g, w)
	}
}

// TestLoadPoolGroupedRefusals checks that a device whose leases are only
// partly refused keeps the accepted one and reports exactly the refused
// one, on both load paths.
func TestLoadPoolGroupedRefusals(t *testing.T) {
	s := openStore(t)
	create(t, s, "a", "b")
	commit := func(id, a string) {
		t.Helper()
		if err := s.CommitLease(ctx, store.Lease{DeviceID: id, Addr: netip.MustParseAddr(a), Created: time.Time{}}); err != nil {
			t.Fatal(err)
		}
	}
	commit("a", "10.1.0.5")
	commit("a", "fd02::5")
	commit("b", "10.1.0.6")
	for name, st := range map[string]store.Store{"grouped": s, "plain": plainStore{s}} {
		p := newPool(t, "v4 10.1.0.0/16\nv6 fd01::/64")
		err := lease.LoadPool(ctx, st, p)
		var le *lease.LoadError
		if !errors.As(err, &le) || len(le.Refused) != 1 || le.Refused[0] != (store.Lease{DeviceID: "a", Addr: netip.MustParseAddr("fd02::5")}) || !errors.Is(err, pool.ErrOutside) {
			t.Fatalf("%s: LoadPool = %v", name, err)
		}
		if got := p.Addrs("a"); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("10.1.0.5")}) {
			t.Errorf("%s: a holds %v", name, got)
		}
		if h, _ := p.Holder(netip.MustParseAddr("10.1.0.6")); h != "b" {
			t.Errorf("%s: 10.1.0.6 held by %q", name, h)
		}
	}
}
