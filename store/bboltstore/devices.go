package bboltstore

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/homeip/homeip/store"
)

func checkDeviceTimes(d store.Device) error {
	for _, t := range []struct {
		what string
		t    time.Time
	}{{"created", d.Created}, {"enrolled", d.Enrolled}, {"revoked", d.Revoked}} {
		if err := checkTime(t.what, t.t); err != nil {
			return err
		}
	}
	return nil
}

// CreateDevice adds a new device.
func (s *Store) CreateDevice(ctx context.Context, d store.Device) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("bboltstore: creating device: %w", err)
	}
	if err := checkDeviceTimes(d); err != nil {
		return fmt.Errorf("bboltstore: creating device %q: %w", d.ID, err)
	}
	return s.update(ctx, "creating device "+d.ID, true, func(tx *bolt.Tx) error {
		if tx.Bucket(bDevices).Get([]byte(d.ID)) != nil {
			return refuse(fmt.Errorf("device id %q: %w", d.ID, store.ErrExists))
		}
		if tx.Bucket(bName).Get([]byte(d.Name)) != nil {
			return refuse(fmt.Errorf("device name %q: %w", d.Name, store.ErrExists))
		}
		if len(d.IdentityKey) > 0 && tx.Bucket(bIKey).Get(d.IdentityKey) != nil {
			return refuse(fmt.Errorf("identity key: %w", store.ErrExists))
		}
		if d.WGKey != ([32]byte{}) && tx.Bucket(bWGKey).Get(d.WGKey[:]) != nil {
			return refuse(fmt.Errorf("WireGuard key: %w", store.ErrExists))
		}
		return putDeviceWithIndexes(tx, d)
	})
}

func putDeviceWithIndexes(tx *bolt.Tx, d store.Device) error {
	id := []byte(d.ID)
	if err := tx.Bucket(bName).Put([]byte(d.Name), id); err != nil {
		return err
	}
	if len(d.IdentityKey) > 0 {
		if err := tx.Bucket(bIKey).Put(d.IdentityKey, id); err != nil {
			return err
		}
	}
	if d.WGKey != ([32]byte{}) {
		if err := tx.Bucket(bWGKey).Put(d.WGKey[:], id); err != nil {
			return err
		}
	}
	return putDevice(tx, d)
}

// Device returns the device with that id.
func (s *Store) Device(ctx context.Context, id string) (store.Device, error) {
	var d store.Device
	err := s.view(ctx, "reading device "+id, func(tx *bolt.Tx) error {
		var err error
		d, err = mustDevice(tx, id)
		if r, ok := err.(refusal); ok {
			return r.err
		}
		return err
	})
	return d, err
}

func (s *Store) deviceByIndex(ctx context.Context, what string, bucket, key []byte) (store.Device, error) {
	var d store.Device
	err := s.view(ctx, "looking up device by "+what, func(tx *bolt.Tx) error {
		id := tx.Bucket(bucket).Get(key)
		if id == nil {
			return store.ErrNotFound
		}
		var ok bool
		var err error
		d, ok, err = getDevice(tx, string(id))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s index points to missing device %q", store.ErrCorrupt, what, id)
		}
		return nil
	})
	return d, err
}

// DeviceByName looks a device up by name.
func (s *Store) DeviceByName(ctx context.Context, name string) (store.Device, error) {
	return s.deviceByIndex(ctx, "name", bName, []byte(name))
}

// DeviceByIdentityKey looks a device up by its ed25519 public key.
func (s *Store) DeviceByIdentityKey(ctx context.Context, key []byte) (store.Device, error) {
	if len(key) == 0 {
		return store.Device{}, fmt.Errorf("bboltstore: looking up device by identity key: %w", store.ErrNotFound)
	}
	return s.deviceByIndex(ctx, "identity key", bIKey, key)
}

// DeviceByWGKey looks a device up by its WireGuard public key.
func (s *Store) DeviceByWGKey(ctx context.Context, key [32]byte) (store.Device, error) {
	if key == ([32]byte{}) {
		return store.Device{}, fmt.Errorf("bboltstore: looking up device by WireGuard key: %w", store.ErrNotFound)
	}
	return s.deviceByIndex(ctx, "WireGuard key", bWGKey, key[:])
}

// Devices lists every device ordered by id.
func (s *Store) Devices(ctx context.Context) ([]store.Device, error) {
	var out []store.Device
	err := s.view(ctx, "listing devices", func(tx *bolt.Tx) error {
		return tx.Bucket(bDevices).ForEach(func(_, v []byte) error {
			d, err := decodeDevice(v)
			if err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// RenameDevice changes a device's name.
func (s *Store) RenameDevice(ctx context.Context, id, name string) error {
	if name == "" || len(name) > store.MaxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("bboltstore: renaming device %q: %w: name must be 1..%d bytes of UTF-8", id, store.ErrInvalid, store.MaxNameLen)
	}
	return s.update(ctx, "renaming device "+id, false, func(tx *bolt.Tx) error {
		d, err := mustDevice(tx, id)
		if err != nil || d.Name == name {
			return err
		}
		if tx.Bucket(bName).Get([]byte(name)) != nil {
			return refuse(fmt.Errorf("device name %q: %w", name, store.ErrExists))
		}
		if err := tx.Bucket(bName).Delete([]byte(d.Name)); err != nil {
			return err
		}
		d.Name = name
		if err := tx.Bucket(bName).Put([]byte(name), []byte(id)); err != nil {
			return err
		}
		return putDevice(tx, d)
	})
}

// RevokeDevice marks a device revoked; its leases stay.
func (s *Store) RevokeDevice(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("bboltstore: revoking device %q: %w: zero time", id, store.ErrInvalid)
	}
	if err := checkTime("revoked", at); err != nil {
		return fmt.Errorf("bboltstore: revoking device %q: %w", id, err)
	}
	return s.update(ctx, "revoking device "+id, false, func(tx *bolt.Tx) error {
		d, err := mustDevice(tx, id)
		if err != nil || !d.Active() {
			return err
		}
		d.Revoked = at
		return putDevice(tx, d)
	})
}

// DeleteDevice removes a device, its tokens and reservations, and moves
// its leases to quarantine.
func (s *Store) DeleteDevice(ctx context.Context, id string, at time.Time) ([]store.Quarantined, error) {
	if err := checkTime("release", at); err != nil {
		return nil, fmt.Errorf("bboltstore: deleting device %q: %w", id, err)
	}
	var released []store.Quarantined
	err := s.update(ctx, "deleting device "+id, false, func(tx *bolt.Tx) error {
		released = nil
		d, err := mustDevice(tx, id)
		if err != nil {
			return err
		}
		leases, err := devAddrs(tx, id, kindLease)
		if err != nil {
			return err
		}
		resv, err := devAddrs(tx, id, kindReservation)
		if err != nil {
			return err
		}
		for _, a := range leases {
			if err := tx.Bucket(bLeases).Delete(addrKey(a)); err != nil {
				return err
			}
			if err := tx.Bucket(bQuar).Put(addrKey(a), encodeHolder(id, at)); err != nil {
				return err
			}
			if err := tx.Bucket(bDevAddr).Delete(devAddrKey(id, kindLease, a)); err != nil {
				return err
			}
			released = append(released, store.Quarantined{DeviceID: id, Addr: a, Released: at})
		}
		for _, a := range resv {
			if err := tx.Bucket(bResv).Delete(addrKey(a)); err != nil {
				return err
			}
			if err := tx.Bucket(bDevAddr).Delete(devAddrKey(id, kindReservation, a)); err != nil {
				return err
			}
		}
		if err := deleteTokensOf(tx, id, nil); err != nil {
			return err
		}
		if err := tx.Bucket(bName).Delete([]byte(d.Name)); err != nil {
			return err
		}
		if len(d.IdentityKey) > 0 {
			if err := tx.Bucket(bIKey).Delete(d.IdentityKey); err != nil {
				return err
			}
		}
		if d.WGKey != ([32]byte{}) {
			if err := tx.Bucket(bWGKey).Delete(d.WGKey[:]); err != nil {
				return err
			}
		}
		return tx.Bucket(bDevices).Delete([]byte(id))
	})
	if err != nil {
		return nil, err
	}
	return released, nil
}
