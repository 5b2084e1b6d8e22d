package bboltstore

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"

	bolt "go.etcd.io/bbolt"

	"github.com/homeip/homeip/store"
)

// Walk visits every record in one read transaction (a consistent
// snapshot): devices, leases, reservations, quarantine records.
func (s *Store) Walk(ctx context.Context, v store.Visitor) error {
	return s.walk(ctx, nil, v)
}

// WalkGrouped is Walk with leases grouped by device (store.LeaseGrouper).
// It reads the dev_addr index, which lists every device's addresses in
// device order and is written in the same transaction as the lease
// records (Check verifies they agree), so it needs neither a lease record
// decode nor a device-id copy per lease.
func (s *Store) WalkGrouped(ctx context.Context, leases func(deviceID string, addrs []netip.Addr) error, v store.Visitor) error {
	v.Lease = nil
	return s.walk(ctx, leases, v)
}

func (s *Store) walk(ctx context.Context, grouped func(string, []netip.Addr) error, v store.Visitor) error {
	return s.view(ctx, "walking the store", func(tx *bolt.Tx) error {
		n := 0
		tick := func() error {
			n++
			if n%4096 == 0 {
				return ctx.Err()
			}
			return nil
		}
		if v.Device != nil {
			err := tx.Bucket(bDevices).ForEach(func(_, b []byte) error {
				d, err := decodeDevice(b)
				if err == nil {
					err = v.Device(d)
				}
				if err == nil {
					err = tick()
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		if grouped != nil {
			if err := walkDevAddrLeases(tx, grouped, tick); err != nil {
				return err
			}
		}
		if v.Lease != nil {
			err := tx.Bucket(bLeases).ForEach(func(k, b []byte) error {
				l, err := decodeLease(k, b)
				if err == nil {
					err = v.Lease(l)
				}
				if err == nil {
					err = tick()
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		if v.Reservation != nil {
			err := tx.Bucket(bResv).ForEach(func(k, b []byte) error {
				r, err := decodeReservation(k, b)
				if err == nil {
					err = v.Reservation(r)
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		if v.Quarantined != nil {
			return tx.Bucket(bQuar).ForEach(func(k, b []byte) error {
				q, err := decodeQuarantined(k, b)
				if err == nil {
					err = v.Quarantined(q)
				}
				if err == nil {
					err = tick()
				}
				return err
			})
		}
		return nil
	})
}

// Counts returns the number of records of each kind. It reads bbolt's
// page statistics, which visits every page header but decodes nothing.
func (s *Store) Counts(ctx context.Context) (store.Counts, error) {
	var c store.Counts
	err := s.view(ctx, "counting records", func(tx *bolt.Tx) error {
		c = store.Counts{
			Devices:      tx.Bucket(bDevices).Stats().KeyN,
			Leases:       tx.Bucket(bLeases).Stats().KeyN,
			Reservations: tx.Bucket(bResv).Stats().KeyN,
			Quarantined:  tx.Bucket(bQuar).Stats().KeyN,
			Tokens:       tx.Bucket(bTokens).Stats().KeyN,
		}
		return nil
	})
	return c, err
}

// walkDevAddrLeases calls fn once per device with the leased addresses the
// dev_addr index lists for it (keys id NUL kind addr, in id order).
func walkDevAddrLeases(tx *bolt.Tx, fn func(string, []netip.Addr) error, tick func() error) error {
	var (
		cur   []byte // id of the device being collected, a copy
		id    string
		addrs = make([]netip.Addr, 0, 4)
	)
	flush := func() error {
		if len(addrs) == 0 {
			return nil
		}
		err := fn(id, addrs)
		addrs = addrs[:0]
		if err == nil {
			err = tick()
		}
		return err
	}
	c := tx.Bucket(bDevAddr).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		i := bytes.IndexByte(k, 0)
		if i <= 0 || len(k) < i+2 {
			return fmt.Errorf("bboltstore: dev_addr key %q: %w", k, store.ErrCorrupt)
		}
		if k[i+1] != kindLease {
			continue
		}
		a, err := keyAddr(k[i+2:])
		if err != nil {
			return err
		}
		if !bytes.Equal(k[:i], cur) {
			if err := flush(); err != nil {
				return err
			}
			cur = append(cur[:0], k[:i]...)
			id = string(cur)
			if err := store.ValidateID(id); err != nil {
				return fmt.Errorf("bboltstore: dev_addr key %q: %w: %v", k, store.ErrCorrupt, err)
			}
		}
		addrs = append(addrs, a)
	}
	return flush()
}
