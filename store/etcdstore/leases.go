package etcdstore

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/homeip/homeip/store"
)

// holder returns who holds the record of key (a lease, reservation or
// quarantine key), "" if nobody.
func (t *tx) holder(what, key string) (string, error) {
	v, ok, err := t.get(key)
	if err != nil || !ok {
		return "", err
	}
	id, _, err := decodeHolder(what, v)
	return id, err
}

// addrsOf lists a device's addresses of one kind from its devaddr entries.
func (t *tx) addrsOf(id string, kind byte) ([]netip.Addr, error) {
	pre := t.s.k.devAddr(id, kind)
	kvs, err := t.list(pre)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(kvs))
	for _, kv := range kvs {
		a, err := parseAddr(string(kv.Key[len(pre):]))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// addrOfFamily returns a device's address of one kind and family.
func (t *tx) addrOfFamily(id string, kind byte, fam int) (netip.Addr, error) {
	as, err := t.addrsOf(id, kind)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range as {
		if store.Family(a) == fam {
			return a, nil
		}
	}
	return netip.Addr{}, nil
}

func (t *tx) putLease(l store.Lease) {
	k := t.s.k
	t.put(k.lease(l.Addr), encodeHolder(l.DeviceID, l.Created))
	t.del(k.quar(l.Addr))
	t.put(k.devAddr(l.DeviceID, kindLease)+l.Addr.String(), nil)
}

func (t *tx) releaseLease(id string, a netip.Addr, at time.Time) {
	k := t.s.k
	t.del(k.lease(a))
	t.del(k.devAddr(id, kindLease) + a.String())
	t.put(k.quar(a), encodeHolder(id, at))
}

// CommitLease records leases, all or none, in one transaction comparing
// every address's lease and reservation keys and every device's key.
func (s *Store) CommitLease(ctx context.Context, ls ...store.Lease) error {
	if len(ls) == 0 {
		return nil
	}
	for _, l := range ls {
		if err := store.ValidateID(l.DeviceID); err != nil {
			return fmt.Errorf("etcdstore: committing lease: %w", err)
		}
		if err := store.ValidAddr(l.Addr); err != nil {
			return fmt.Errorf("etcdstore: committing lease for %q: %w", l.DeviceID, err)
		}
		if err := checkTime("lease", l.Created); err != nil {
			return fmt.Errorf("etcdstore: committing lease for %q: %w", l.DeviceID, err)
		}
	}
	what := fmt.Sprintf("committing lease %v for %s", ls[0].Addr, ls[0].DeviceID)
	if len(ls) > 1 {
		what = fmt.Sprintf("committing %d leases for %s", len(ls), ls[0].DeviceID)
	}
	k := s.k
	return s.update(ctx, what, func(t *tx) error {
		// Every key this depends on, in one read.
		var keys []string
		for _, l := range ls {
			keys = append(keys, k.dev(l.DeviceID), k.lease(l.Addr), k.resv(l.Addr))
		}
		if err := t.fetch(keys...); err != nil {
			return err
		}
		type famKey struct {
			id  string
			fam int
		}
		batch := map[famKey]netip.Addr{}
		touched := map[string]store.Device{}
		var todo []store.Lease
		for _, l := range ls {
			d, err := t.mustDevice(l.DeviceID)
			if err != nil {
				return err
			}
			if !d.Active() {
				return refuse(fmt.Errorf("device %q: %w", d.ID, store.ErrRevoked))
			}
			holder, err := t.holder("lease", k.lease(l.Addr))
			if err != nil {
				return err
			}
			if holder == l.DeviceID {
				continue // already committed
			}
			if holder != "" {
				return refuse(&store.ConflictError{Addr: l.Addr, Holder: holder})
			}
			if r, err := t.holder("reservation", k.resv(l.Addr)); err != nil {
				return err
			} else if r != "" && r != l.DeviceID {
				return refuse(&store.ConflictError{Addr: l.Addr, Holder: r, Reserved: true})
			}
			fk := famKey{l.DeviceID, store.Family(l.Addr)}
			cur, err := t.addrOfFamily(l.DeviceID, kindLease, fk.fam)
			if err != nil {
				return err
			}
			if prev, ok := batch[fk]; ok && prev != l.Addr {
				cur = prev
			}
			if cur.IsValid() {
				return refuse(fmt.Errorf("device %q holds %v: %w", l.DeviceID, cur, store.ErrHasLease))
			}
			for _, other := range todo {
				if other.Addr == l.Addr && other.DeviceID != l.DeviceID {
					return refuse(&store.ConflictError{Addr: l.Addr, Holder: other.DeviceID})
				}
			}
			batch[fk] = l.Addr
			touched[d.ID] = d
			todo = append(todo, l)
		}
		for _, l := range todo {
			t.putLease(l)
		}
		for _, d := range touched {
			t.putDevice(d)
		}
		return nil
	})
}

// ReleaseLease removes a lease and quarantines its address, in one
// transaction comparing the lease key and the device key.
func (s *Store) ReleaseLease(ctx context.Context, deviceID string, addr netip.Addr, at time.Time) (store.Quarantined, error) {
	if err := checkTime("release", at); err != nil {
		return store.Quarantined{}, fmt.Errorf("etcdstore: releasing %v: %w", addr, err)
	}
	if !addr.IsValid() || deviceID == "" {
		return store.Quarantined{}, fmt.Errorf("etcdstore: releasing %v of %q: lease: %w", addr, deviceID, store.ErrNotFound)
	}
	what := fmt.Sprintf("releasing lease %v of %s", addr, deviceID)
	err := s.update(ctx, what, func(t *tx) error {
		if err := t.fetch(s.k.lease(addr), s.k.dev(deviceID)); err != nil {
			return err
		}
		holder, err := t.holder("lease", s.k.lease(addr))
		if err != nil {
			return err
		}
		if holder != deviceID {
			return refuse(fmt.Errorf("lease: %w", store.ErrNotFound))
		}
		d, ok, err := t.getDevice(deviceID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: lease %v held by missing device %q", store.ErrCorrupt, addr, deviceID)
		}
		t.releaseLease(deviceID, addr, at)
		t.putDevice(d)
		return nil
	})
	if err != nil {
		return store.Quarantined{}, err
	}
	return store.Quarantined{DeviceID: deviceID, Addr: addr, Released: at}, nil
}

// recordsOf reads a device's devaddr entries of one kind and their
// records, at one revision.
func (s *Store) recordsOf(ctx context.Context, id string, kind byte, recordKey func(netip.Addr) string, fn func(a netip.Addr, v []byte) error) error {
	pre := s.k.devAddr(id, kind)
	var addrs []netip.Addr
	rev, err := s.rangeAt(ctx, pre, 0, func(kv *mvccpb.KeyValue) error {
		a, err := parseAddr(string(kv.Key[len(pre):]))
		addrs = append(addrs, a)
		return err
	})
	if err != nil {
		return err
	}
	for _, a := range addrs {
		v, _, err := s.getAt(ctx, recordKey(a), rev)
		if err != nil {
			return err
		}
		if v == nil {
			return fmt.Errorf("%w: index lists %v of %q without a record", store.ErrCorrupt, a, id)
		}
		if err := fn(a, v); err != nil {
			return err
		}
	}
	return nil
}

// Leases returns a device's leases, IPv4 first.
func (s *Store) Leases(ctx context.Context, deviceID string) ([]store.Lease, error) {
	var out []store.Lease
	err := s.view(ctx, "reading leases of "+deviceID, func(ctx context.Context) error {
		out = nil
		return s.recordsOf(ctx, deviceID, kindLease, s.k.lease, func(a netip.Addr, v []byte) error {
			id, at, err := decodeHolder("lease", v)
			if err == nil && id != deviceID {
				err = fmt.Errorf("%w: index lists lease %v of %q held by %q", store.ErrCorrupt, a, deviceID, id)
			}
			out = append(out, store.Lease{DeviceID: id, Addr: a, Created: at})
			return err
		})
	})
	sortV4First(out, func(l store.Lease) netip.Addr { return l.Addr })
	return out, err
}

// sortV4First orders a device's (at most two) records IPv4 first.
func sortV4First[T any](xs []T, addr func(T) netip.Addr) {
	if len(xs) == 2 && addr(xs[0]).Is6() && addr(xs[1]).Is4() {
		xs[0], xs[1] = xs[1], xs[0]
	}
}

// LeaseByAddr returns the lease of an address.
func (s *Store) LeaseByAddr(ctx context.Context, addr netip.Addr) (store.Lease, error) {
	var l store.Lease
	err := s.view(ctx, fmt.Sprintf("reading lease of %v", addr), func(ctx context.Context) error {
		if !addr.IsValid() {
			return refuse(store.ErrNotFound)
		}
		v, _, err := s.getAt(ctx, s.k.lease(addr), 0)
		if err != nil {
			return err
		}
		if v == nil {
			return refuse(store.ErrNotFound)
		}
		id, at, err := decodeHolder("lease", v)
		l = store.Lease{DeviceID: id, Addr: addr, Created: at}
		return err
	})
	return l, err
}

// Reserve pins a device to an address, moving its lease of that family,
// in one transaction comparing the address's lease and reservation keys
// and the device key.
func (s *Store) Reserve(ctx context.Context, r store.Reservation) ([]store.Quarantined, error) {
	if err := store.ValidateID(r.DeviceID); err != nil {
		return nil, fmt.Errorf("etcdstore: reserving: %w", err)
	}
	if err := store.ValidAddr(r.Addr); err != nil {
		return nil, fmt.Errorf("etcdstore: reserving for %q: %w", r.DeviceID, err)
	}
	if err := checkTime("reservation", r.Created); err != nil || r.Created.IsZero() {
		return nil, fmt.Errorf("etcdstore: reserving for %q: %w: creation time %v", r.DeviceID, store.ErrInvalid, r.Created)
	}
	var moved []store.Quarantined
	k := s.k
	what := fmt.Sprintf("reserving %v for %s", r.Addr, r.DeviceID)
	err := s.update(ctx, what, func(t *tx) error {
		moved = nil
		if err := t.fetch(k.dev(r.DeviceID), k.lease(r.Addr), k.resv(r.Addr)); err != nil {
			return err
		}
		d, err := t.mustDevice(r.DeviceID)
		if err != nil {
			return err
		}
		if h, err := t.holder("lease", k.lease(r.Addr)); err != nil {
			return err
		} else if h != "" && h != r.DeviceID {
			return refuse(&store.ConflictError{Addr: r.Addr, Holder: h})
		}
		if h, err := t.holder("reservation", k.resv(r.Addr)); err != nil {
			return err
		} else if h != "" && h != r.DeviceID {
			return refuse(&store.ConflictError{Addr: r.Addr, Holder: h, Reserved: true})
		}
		fam := store.Family(r.Addr)
		old, err := t.addrOfFamily(r.DeviceID, kindReservation, fam)
		if err != nil {
			return err
		}
		if old.IsValid() && old != r.Addr {
			t.del(k.resv(old))
			t.del(k.devAddr(r.DeviceID, kindReservation) + old.String())
		}
		cur, err := t.addrOfFamily(r.DeviceID, kindLease, fam)
		if err != nil {
			return err
		}
		if cur.IsValid() && cur != r.Addr {
			t.releaseLease(r.DeviceID, cur, r.Created)
			moved = append(moved, store.Quarantined{DeviceID: r.DeviceID, Addr: cur, Released: r.Created})
			t.putLease(store.Lease{DeviceID: r.DeviceID, Addr: r.Addr, Created: r.Created})
		}
		t.del(k.quar(r.Addr))
		t.put(k.resv(r.Addr), encodeHolder(r.DeviceID, r.Created))
		t.put(k.devAddr(r.DeviceID, kindReservation)+r.Addr.String(), nil)
		t.putDevice(d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return moved, nil
}

// Unreserve removes a reservation; the lease, if any, stays.
func (s *Store) Unreserve(ctx context.Context, deviceID string, addr netip.Addr) error {
	if !addr.IsValid() || deviceID == "" {
		return fmt.Errorf("etcdstore: unreserving %v of %q: reservation: %w", addr, deviceID, store.ErrNotFound)
	}
	what := fmt.Sprintf("unreserving %v of %s", addr, deviceID)
	return s.update(ctx, what, func(t *tx) error {
		if err := t.fetch(s.k.resv(addr), s.k.dev(deviceID)); err != nil {
			return err
		}
		h, err := t.holder("reservation", s.k.resv(addr))
		if err != nil {
			return err
		}
		if h != deviceID {
			return refuse(fmt.Errorf("reservation: %w", store.ErrNotFound))
		}
		d, ok, err := t.getDevice(deviceID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: reservation %v held by missing device %q", store.ErrCorrupt, addr, deviceID)
		}
		t.del(s.k.resv(addr))
		t.del(s.k.devAddr(deviceID, kindReservation) + addr.String())
		t.putDevice(d)
		return nil
	})
}

// Reservations returns a device's reservations, IPv4 first.
func (s *Store) Reservations(ctx context.Context, deviceID string) ([]store.Reservation, error) {
	var out []store.Reservation
	err := s.view(ctx, "reading reservations of "+deviceID, func(ctx context.Context) error {
		out = nil
		return s.recordsOf(ctx, deviceID, kindReservation, s.k.resv, func(a netip.Addr, v []byte) error {
			id, at, err := decodeHolder("reservation", v)
			if err == nil && id != deviceID {
				err = fmt.Errorf("%w: index lists reservation %v of %q held by %q", store.ErrCorrupt, a, deviceID, id)
			}
			out = append(out, store.Reservation{DeviceID: id, Addr: a, Created: at})
			return err
		})
	})
	sortV4First(out, func(r store.Reservation) netip.Addr { return r.Addr })
	return out, err
}

// purgeChunk is how many quarantine records PurgeQuarantine removes per
// transaction (well below etcd's default limit of 128 operations).
const purgeChunk = 64

// PurgeQuarantine forgets quarantine records released before a time. It
// reads them at one revision and removes them in transactions of at most
// purgeChunk, each record only if unchanged since (a record rewritten
// meanwhile, by a newer release, stays).
func (s *Store) PurgeQuarantine(ctx context.Context, before time.Time) (int, error) {
	type old struct {
		key string
		rev int64
	}
	var olds []old
	err := s.view(ctx, "purging quarantine", func(ctx context.Context) error {
		_, err := s.rangeAt(ctx, s.k.quars(), 0, func(kv *mvccpb.KeyValue) error {
			_, at, err := decodeHolder("quarantine record", kv.Value)
			if err == nil && at.Before(before) {
				olds = append(olds, old{string(kv.Key), kv.ModRevision})
			}
			return err
		})
		return err
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for len(olds) > 0 {
		chunk := olds[:min(purgeChunk, len(olds))]
		olds = olds[len(chunk):]
		removed := 0
		err := s.update(ctx, "purging quarantine", func(t *tx) error {
			removed = 0
			keys := make([]string, len(chunk))
			for i, o := range chunk {
				keys[i] = o.key
			}
			if err := t.fetch(keys...); err != nil {
				return err
			}
			for _, o := range chunk {
				v, ok, err := t.get(o.key)
				if err != nil {
					return err
				}
				if !ok || t.read[o.key].rev != o.rev {
					continue
				}
				if _, _, err := decodeHolder("quarantine record", v); err != nil {
					return err
				}
				t.del(o.key)
				removed++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += removed
	}
	return n, nil
}
