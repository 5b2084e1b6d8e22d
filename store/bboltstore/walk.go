package bboltstore

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/homeip/homeip/store"
)

// Walk visits every record in one read transaction (a consistent
// snapshot): devices, leases, reservations, quarantine records.
func (s *Store) Walk(ctx context.Context, v store.Visitor) error {
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
