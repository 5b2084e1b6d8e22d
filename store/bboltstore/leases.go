package bboltstore

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/homeip/homeip/store"
)

// holderOf returns who leases or reserves addr, if anyone.
func holderOf(tx *bolt.Tx, bucket []byte, a netip.Addr) (string, error) {
	v := tx.Bucket(bucket).Get(addrKey(a))
	if v == nil {
		return "", nil
	}
	id, _, err := decodeHolder(string(bucket), v)
	return id, err
}

// CommitLease records leases, all or none, unless an address is someone
// else's.
func (s *Store) CommitLease(ctx context.Context, ls ...store.Lease) error {
	if len(ls) == 0 {
		return nil
	}
	for _, l := range ls {
		if err := store.ValidateID(l.DeviceID); err != nil {
			return fmt.Errorf("bboltstore: committing lease: %w", err)
		}
		if err := store.ValidAddr(l.Addr); err != nil {
			return fmt.Errorf("bboltstore: committing lease for %q: %w", l.DeviceID, err)
		}
		if err := checkTime("lease", l.Created); err != nil {
			return fmt.Errorf("bboltstore: committing lease for %q: %w", l.DeviceID, err)
		}
	}
	what := fmt.Sprintf("committing lease %v for %s", ls[0].Addr, ls[0].DeviceID)
	if len(ls) > 1 {
		what = fmt.Sprintf("committing %d leases for %s", len(ls), ls[0].DeviceID)
	}
	return s.update(ctx, what, true, func(tx *bolt.Tx) error {
		// Check everything first: a refusal must come before any write.
		type famKey struct {
			id  string
			fam int
		}
		batch := map[famKey]netip.Addr{}
		var todo []store.Lease
		for _, l := range ls {
			d, err := mustDevice(tx, l.DeviceID)
			if err != nil {
				return err
			}
			holder, err := holderOf(tx, bLeases, l.Addr)
			if err != nil {
				return err
			}
			if !d.Active() {
				return refuse(fmt.Errorf("device %q: %w", d.ID, store.ErrRevoked))
			}
			if holder == l.DeviceID {
				continue // already committed
			}
			if holder != "" {
				return refuse(&store.ConflictError{Addr: l.Addr, Holder: holder})
			}
			if r, err := holderOf(tx, bResv, l.Addr); err != nil {
				return err
			} else if r != "" && r != l.DeviceID {
				return refuse(&store.ConflictError{Addr: l.Addr, Holder: r, Reserved: true})
			}
			fk := famKey{l.DeviceID, store.Family(l.Addr)}
			cur, err := devAddrOfFamily(tx, l.DeviceID, kindLease, fk.fam)
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
			todo = append(todo, l)
		}
		for _, l := range todo {
			if err := putLease(tx, l); err != nil {
				return err
			}
		}
		return nil
	})
}

func putLease(tx *bolt.Tx, l store.Lease) error {
	if err := tx.Bucket(bLeases).Put(addrKey(l.Addr), encodeHolder(l.DeviceID, l.Created)); err != nil {
		return err
	}
	if err := tx.Bucket(bQuar).Delete(addrKey(l.Addr)); err != nil {
		return err
	}
	return tx.Bucket(bDevAddr).Put(devAddrKey(l.DeviceID, kindLease, l.Addr), nil)
}

// releaseLease moves a lease to quarantine.
func releaseLease(tx *bolt.Tx, id string, a netip.Addr, at time.Time) error {
	if err := tx.Bucket(bLeases).Delete(addrKey(a)); err != nil {
		return err
	}
	if err := tx.Bucket(bDevAddr).Delete(devAddrKey(id, kindLease, a)); err != nil {
		return err
	}
	return tx.Bucket(bQuar).Put(addrKey(a), encodeHolder(id, at))
}

// ReleaseLease removes a lease and quarantines its address.
func (s *Store) ReleaseLease(ctx context.Context, deviceID string, addr netip.Addr, at time.Time) (store.Quarantined, error) {
	if err := checkTime("release", at); err != nil {
		return store.Quarantined{}, fmt.Errorf("bboltstore: releasing %v: %w", addr, err)
	}
	what := fmt.Sprintf("releasing lease %v of %s", addr, deviceID)
	err := s.update(ctx, what, true, func(tx *bolt.Tx) error {
		holder, err := holderOf(tx, bLeases, addr)
		if err != nil {
			return err
		}
		if holder != deviceID || deviceID == "" {
			return refuse(fmt.Errorf("lease: %w", store.ErrNotFound))
		}
		return releaseLease(tx, deviceID, addr, at)
	})
	if err != nil {
		return store.Quarantined{}, err
	}
	return store.Quarantined{DeviceID: deviceID, Addr: addr, Released: at}, nil
}

// Leases returns a device's leases, IPv4 first.
func (s *Store) Leases(ctx context.Context, deviceID string) ([]store.Lease, error) {
	var out []store.Lease
	err := s.view(ctx, "reading leases of "+deviceID, func(tx *bolt.Tx) error {
		as, err := devAddrs(tx, deviceID, kindLease)
		if err != nil {
			return err
		}
		for _, a := range as {
			v := tx.Bucket(bLeases).Get(addrKey(a))
			if v == nil {
				return fmt.Errorf("%w: index lists lease %v of %q that does not exist", store.ErrCorrupt, a, deviceID)
			}
			l, err := decodeLease(addrKey(a), v)
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		return nil
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
	err := s.view(ctx, fmt.Sprintf("reading lease of %v", addr), func(tx *bolt.Tx) error {
		if !addr.IsValid() {
			return store.ErrNotFound
		}
		v := tx.Bucket(bLeases).Get(addrKey(addr))
		if v == nil {
			return store.ErrNotFound
		}
		var err error
		l, err = decodeLease(addrKey(addr), v)
		return err
	})
	return l, err
}

// Reserve pins a device to an address, moving its lease of that family.
func (s *Store) Reserve(ctx context.Context, r store.Reservation) ([]store.Quarantined, error) {
	if err := store.ValidateID(r.DeviceID); err != nil {
		return nil, fmt.Errorf("bboltstore: reserving: %w", err)
	}
	if err := store.ValidAddr(r.Addr); err != nil {
		return nil, fmt.Errorf("bboltstore: reserving for %q: %w", r.DeviceID, err)
	}
	if err := checkTime("reservation", r.Created); err != nil || r.Created.IsZero() {
		return nil, fmt.Errorf("bboltstore: reserving for %q: %w: creation time %v", r.DeviceID, store.ErrInvalid, r.Created)
	}
	var moved []store.Quarantined
	what := fmt.Sprintf("reserving %v for %s", r.Addr, r.DeviceID)
	err := s.update(ctx, what, false, func(tx *bolt.Tx) error {
		moved = nil
		if _, err := mustDevice(tx, r.DeviceID); err != nil {
			return err
		}
		if h, err := holderOf(tx, bLeases, r.Addr); err != nil {
			return err
		} else if h != "" && h != r.DeviceID {
			return refuse(&store.ConflictError{Addr: r.Addr, Holder: h})
		}
		if h, err := holderOf(tx, bResv, r.Addr); err != nil {
			return err
		} else if h != "" && h != r.DeviceID {
			return refuse(&store.ConflictError{Addr: r.Addr, Holder: h, Reserved: true})
		}
		fam := store.Family(r.Addr)
		old, err := devAddrOfFamily(tx, r.DeviceID, kindReservation, fam)
		if err != nil {
			return err
		}
		if old.IsValid() && old != r.Addr {
			if err := deleteReservation(tx, r.DeviceID, old); err != nil {
				return err
			}
		}
		cur, err := devAddrOfFamily(tx, r.DeviceID, kindLease, fam)
		if err != nil {
			return err
		}
		if cur.IsValid() && cur != r.Addr {
			if err := releaseLease(tx, r.DeviceID, cur, r.Created); err != nil {
				return err
			}
			moved = append(moved, store.Quarantined{DeviceID: r.DeviceID, Addr: cur, Released: r.Created})
			if err := putLease(tx, store.Lease{DeviceID: r.DeviceID, Addr: r.Addr, Created: r.Created}); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bQuar).Delete(addrKey(r.Addr)); err != nil {
			return err
		}
		if err := tx.Bucket(bResv).Put(addrKey(r.Addr), encodeHolder(r.DeviceID, r.Created)); err != nil {
			return err
		}
		return tx.Bucket(bDevAddr).Put(devAddrKey(r.DeviceID, kindReservation, r.Addr), nil)
	})
	if err != nil {
		return nil, err
	}
	return moved, nil
}

func deleteReservation(tx *bolt.Tx, id string, a netip.Addr) error {
	if err := tx.Bucket(bResv).Delete(addrKey(a)); err != nil {
		return err
	}
	return tx.Bucket(bDevAddr).Delete(devAddrKey(id, kindReservation, a))
}

// Unreserve removes a reservation; the lease, if any, stays.
func (s *Store) Unreserve(ctx context.Context, deviceID string, addr netip.Addr) error {
	what := fmt.Sprintf("unreserving %v of %s", addr, deviceID)
	return s.update(ctx, what, false, func(tx *bolt.Tx) error {
		if !addr.IsValid() {
			return refuse(fmt.Errorf("reservation: %w", store.ErrNotFound))
		}
		h, err := holderOf(tx, bResv, addr)
		if err != nil {
			return err
		}
		if h != deviceID || h == "" {
			return refuse(fmt.Errorf("reservation: %w", store.ErrNotFound))
		}
		return deleteReservation(tx, deviceID, addr)
	})
}

// Reservations returns a device's reservations, IPv4 first.
func (s *Store) Reservations(ctx context.Context, deviceID string) ([]store.Reservation, error) {
	var out []store.Reservation
	err := s.view(ctx, "reading reservations of "+deviceID, func(tx *bolt.Tx) error {
		as, err := devAddrs(tx, deviceID, kindReservation)
		if err != nil {
			return err
		}
		for _, a := range as {
			v := tx.Bucket(bResv).Get(addrKey(a))
			if v == nil {
				return fmt.Errorf("%w: index lists reservation %v of %q that does not exist", store.ErrCorrupt, a, deviceID)
			}
			r, err := decodeReservation(addrKey(a), v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	sortV4First(out, func(r store.Reservation) netip.Addr { return r.Addr })
	return out, err
}

// PurgeQuarantine forgets quarantine records released before a time.
func (s *Store) PurgeQuarantine(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := s.update(ctx, "purging quarantine", false, func(tx *bolt.Tx) error {
		n = 0
		var keys [][]byte
		err := tx.Bucket(bQuar).ForEach(func(k, v []byte) error {
			q, err := decodeQuarantined(k, v)
			if err != nil {
				return err
			}
			if q.Released.Before(before) {
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Bucket(bQuar).Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	return n, err
}
