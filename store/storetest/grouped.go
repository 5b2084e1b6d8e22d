package storetest

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/homeip/homeip/store"
)

// testWalkGrouped checks a store.LeaseGrouper against Walk: the same
// leases, grouped one call per device in id order, and the same devices,
// reservations and quarantine records. Stores without the extension skip.
func testWalkGrouped(t *testing.T, s store.Store) {
	g, grouped := s.(store.LeaseGrouper)
	if !grouped {
		t.Skip("store does not implement store.LeaseGrouper")
	}
	// "b" is a prefix of "b2": their index keys must not run together.
	mustCreate(t, s, "a", "b", "b2", "c", "d")
	v6 := func(i int) netip.Addr { return netip.AddrFrom16([16]byte{0xfd, 0x77, 15: byte(i)}) }
	ok(t, "lease", s.CommitLease(ctx, lease("a", a4), lease("a", v6(1))))
	ok(t, "lease", s.CommitLease(ctx, lease("b", b4), lease("b", v6(2))))
	ok(t, "lease", s.CommitLease(ctx, lease("b2", v6(3))))
	ok(t, "lease", s.CommitLease(ctx, lease("c", c4)))
	_, err := s.Reserve(ctx, store.Reservation{DeviceID: "d", Addr: v6(4), Created: t0})
	ok(t, "reserve", err)
	_, err = s.Reserve(ctx, store.Reservation{DeviceID: "b2", Addr: v6(3), Created: t0})
	ok(t, "reserve", err)
	_, err = s.ReleaseLease(ctx, "c", c4, t0)
	ok(t, "release", err)

	type counts struct{ devs, resv, quar int }
	want := map[string][]netip.Addr{}
	var wc counts
	ok(t, "walk", s.Walk(ctx, store.Visitor{
		Device:      func(store.Device) error { wc.devs++; return nil },
		Lease:       func(l store.Lease) error { want[l.DeviceID] = append(want[l.DeviceID], l.Addr); return nil },
		Reservation: func(store.Reservation) error { wc.resv++; return nil },
		Quarantined: func(store.Quarantined) error { wc.quar++; return nil },
	}))
	got := map[string][]netip.Addr{}
	var ids []string
	var gc counts
	ok(t, "WalkGrouped", g.WalkGrouped(ctx, func(id string, addrs []netip.Addr) error {
		ids = append(ids, id)
		got[id] = append([]netip.Addr(nil), addrs...)
		return nil
	}, store.Visitor{
		Device:      func(store.Device) error { gc.devs++; return nil },
		Lease:       func(l store.Lease) error { t.Errorf("v.Lease called with %+v", l); return nil },
		Reservation: func(store.Reservation) error { gc.resv++; return nil },
		Quarantined: func(store.Quarantined) error { gc.quar++; return nil },
	}))
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Errorf("devices not once each in id order: %q", ids)
	}
	for _, m := range []map[string][]netip.Addr{want, got} {
		for _, as := range m {
			slices.SortFunc(as, netip.Addr.Compare)
		}
	}
	if len(got) != len(want) || len(want) != 3 {
		t.Errorf("WalkGrouped leases %v, Walk leases %v", got, want)
	}
	for id, as := range want {
		if !slices.Equal(got[id], as) {
			t.Errorf("WalkGrouped leases of %q: %v, Walk: %v", id, got[id], as)
		}
	}
	if gc != wc || wc != (counts{devs: 5, resv: 2, quar: 1}) {
		t.Errorf("WalkGrouped saw %+v, Walk %+v", gc, wc)
	}

	stop := errors.New("stop")
	n := 0
	err = g.WalkGrouped(ctx, func(string, []netip.Addr) error { n++; return stop }, store.Visitor{})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("WalkGrouped stop: %v after %d", err, n)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := g.WalkGrouped(cctx, func(string, []netip.Addr) error { return nil }, store.Visitor{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("WalkGrouped with cancelled context: %v", err)
	}
}
