package etcdstore

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.etcd.io/etcd/api/v3/mvccpb"

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

// getDevice reads a device in a transaction; found is false if absent.
func (t *tx) getDevice(id string) (store.Device, bool, error) {
	v, ok, err := t.get(t.s.k.dev(id))
	if err != nil || !ok {
		return store.Device{}, false, err
	}
	d, err := decodeDevice(v)
	if err == nil && d.ID != id {
		err = fmt.Errorf("%w: key of device %q holds device %q", store.ErrCorrupt, id, d.ID)
	}
	return d, err == nil, err
}

// mustDevice is getDevice with absence as a refusal.
func (t *tx) mustDevice(id string) (store.Device, error) {
	d, ok, err := t.getDevice(id)
	if err != nil {
		return d, err
	}
	if !ok {
		return d, refuse(fmt.Errorf("device %q: %w", id, store.ErrNotFound))
	}
	return d, nil
}

// putDevice writes a device record. Writing it unchanged still bumps its
// revision: that is how a change of a device's index entries conflicts
// with every other transaction on the device.
func (t *tx) putDevice(d store.Device) { t.put(t.s.k.dev(d.ID), encodeDevice(d)) }

// putIndexes writes a device's name and key index entries.
func (t *tx) putIndexes(d store.Device) {
	k := t.s.k
	t.put(k.name(d.Name), []byte(d.ID))
	if len(d.IdentityKey) > 0 {
		t.put(k.ikey(d.IdentityKey), []byte(d.ID))
	}
	if d.WGKey != ([32]byte{}) {
		t.put(k.wgkey(d.WGKey), []byte(d.ID))
	}
}

// CreateDevice adds a new device: one transaction comparing the device
// key and its name, identity-key and WireGuard-key index keys.
func (s *Store) CreateDevice(ctx context.Context, d store.Device) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("etcdstore: creating device: %w", err)
	}
	if err := checkDeviceTimes(d); err != nil {
		return fmt.Errorf("etcdstore: creating device %q: %w", d.ID, err)
	}
	return s.update(ctx, "creating device "+d.ID, func(t *tx) error {
		k := s.k
		keys := []string{k.dev(d.ID), k.name(d.Name)}
		what := []string{fmt.Sprintf("device id %q", d.ID), fmt.Sprintf("device name %q", d.Name)}
		if len(d.IdentityKey) > 0 {
			keys = append(keys, k.ikey(d.IdentityKey))
			what = append(what, "identity key")
		}
		if d.WGKey != ([32]byte{}) {
			keys = append(keys, k.wgkey(d.WGKey))
			what = append(what, "WireGuard key")
		}
		if err := t.fetch(keys...); err != nil {
			return err
		}
		for i, key := range keys {
			if _, ok, _ := t.get(key); ok {
				return refuse(fmt.Errorf("%s: %w", what[i], store.ErrExists))
			}
		}
		t.putIndexes(d)
		t.putDevice(d)
		return nil
	})
}

// Device returns the device with that id.
func (s *Store) Device(ctx context.Context, id string) (store.Device, error) {
	var d store.Device
	err := s.view(ctx, "reading device "+id, func(ctx context.Context) error {
		v, _, err := s.getAt(ctx, s.k.dev(id), 0)
		if err != nil {
			return err
		}
		if v == nil {
			return refuse(fmt.Errorf("device %q: %w", id, store.ErrNotFound))
		}
		d, err = decodeDevice(v)
		return err
	})
	return d, err
}

// deviceByIndex follows an index entry to the device, both read at one
// revision.
func (s *Store) deviceByIndex(ctx context.Context, what, key string) (store.Device, error) {
	var d store.Device
	err := s.view(ctx, "looking up device by "+what, func(ctx context.Context) error {
		id, rev, err := s.getAt(ctx, key, 0)
		if err != nil {
			return err
		}
		if id == nil {
			return refuse(store.ErrNotFound)
		}
		v, _, err := s.getAt(ctx, s.k.dev(string(id)), rev)
		if err != nil {
			return err
		}
		if v == nil {
			return fmt.Errorf("%w: %s index points to missing device %q", store.ErrCorrupt, what, id)
		}
		d, err = decodeDevice(v)
		return err
	})
	return d, err
}

// DeviceByName looks a device up by name.
func (s *Store) DeviceByName(ctx context.Context, name string) (store.Device, error) {
	return s.deviceByIndex(ctx, "name", s.k.name(name))
}

// DeviceByIdentityKey looks a device up by its ed25519 public key.
func (s *Store) DeviceByIdentityKey(ctx context.Context, key []byte) (store.Device, error) {
	if len(key) == 0 {
		return store.Device{}, fmt.Errorf("etcdstore: looking up device by identity key: %w", store.ErrNotFound)
	}
	return s.deviceByIndex(ctx, "identity key", s.k.ikey(key))
}

// DeviceByWGKey looks a device up by its WireGuard public key.
func (s *Store) DeviceByWGKey(ctx context.Context, key [32]byte) (store.Device, error) {
	if key == ([32]byte{}) {
		return store.Device{}, fmt.Errorf("etcdstore: looking up device by WireGuard key: %w", store.ErrNotFound)
	}
	return s.deviceByIndex(ctx, "WireGuard key", s.k.wgkey(key))
}

// Devices lists every device ordered by id (read at one revision).
func (s *Store) Devices(ctx context.Context) ([]store.Device, error) {
	var out []store.Device
	err := s.view(ctx, "listing devices", func(ctx context.Context) error {
		out = nil
		_, err := s.rangeAt(ctx, s.k.devs(), 0, func(kv *mvccpb.KeyValue) error {
			d, err := decodeDevice(kv.Value)
			out = append(out, d)
			return err
		})
		return err
	})
	return out, err
}

// RenameDevice changes a device's name: one transaction comparing the
// device key and the new name's index key.
func (s *Store) RenameDevice(ctx context.Context, id, name string) error {
	if name == "" || len(name) > store.MaxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("etcdstore: renaming device %q: %w: name must be 1..%d bytes of UTF-8", id, store.ErrInvalid, store.MaxNameLen)
	}
	return s.update(ctx, "renaming device "+id, func(t *tx) error {
		if err := t.fetch(s.k.dev(id), s.k.name(name)); err != nil {
			return err
		}
		d, err := t.mustDevice(id)
		if err != nil || d.Name == name {
			return err
		}
		if _, taken, _ := t.get(s.k.name(name)); taken {
			return refuse(fmt.Errorf("device name %q: %w", name, store.ErrExists))
		}
		t.del(s.k.name(d.Name))
		d.Name = name
		t.put(s.k.name(name), []byte(id))
		t.putDevice(d)
		return nil
	})
}

// RevokeDevice marks a device revoked; its leases stay.
func (s *Store) RevokeDevice(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("etcdstore: revoking device %q: %w: zero time", id, store.ErrInvalid)
	}
	if err := checkTime("revoked", at); err != nil {
		return fmt.Errorf("etcdstore: revoking device %q: %w", id, err)
	}
	return s.update(ctx, "revoking device "+id, func(t *tx) error {
		d, err := t.mustDevice(id)
		if err != nil || !d.Active() {
			return err
		}
		d.Revoked = at
		t.putDevice(d)
		return nil
	})
}

// devAddrEntry decodes a devaddr key below a device's prefix pre (kind
// byte and address).
func devAddrEntry(pre string, key []byte) (byte, string, error) {
	rest, ok := strings.CutPrefix(string(key), pre)
	if !ok || len(rest) < 2 || (rest[0] != kindLease && rest[0] != kindReservation) {
		return 0, "", fmt.Errorf("%w: devaddr key %q", store.ErrCorrupt, key)
	}
	return rest[0], rest[1:], nil
}

// DeleteDevice removes a device, its tokens and reservations, and moves
// its leases to quarantine, in one transaction comparing the device key
// (every change of its leases, reservations and tokens rewrites it).
func (s *Store) DeleteDevice(ctx context.Context, id string, at time.Time) ([]store.Quarantined, error) {
	if err := checkTime("release", at); err != nil {
		return nil, fmt.Errorf("etcdstore: deleting device %q: %w", id, err)
	}
	var released []store.Quarantined
	err := s.update(ctx, "deleting device "+id, func(t *tx) error {
		released = nil
		k := s.k
		d, err := t.mustDevice(id)
		if err != nil {
			return err
		}
		pre := k.devAddr(id, 0)
		entries, err := t.list(pre)
		if err != nil {
			return err
		}
		for _, kv := range entries {
			kind, as, err := devAddrEntry(pre, kv.Key)
			if err != nil {
				return err
			}
			a, err := parseAddr(as)
			if err != nil {
				return err
			}
			t.del(string(kv.Key))
			if kind == kindLease {
				t.del(k.lease(a))
				t.put(k.quar(a), encodeHolder(id, at))
				released = append(released, store.Quarantined{DeviceID: id, Addr: a, Released: at})
			} else {
				t.del(k.resv(a))
			}
		}
		toks, err := t.list(k.devTok(id))
		if err != nil {
			return err
		}
		for _, kv := range toks {
			t.del(string(kv.Key))
			t.del(k.toks() + strings.TrimPrefix(string(kv.Key), k.devTok(id)))
		}
		t.del(k.name(d.Name))
		if len(d.IdentityKey) > 0 {
			t.del(k.ikey(d.IdentityKey))
		}
		if d.WGKey != ([32]byte{}) {
			t.del(k.wgkey(d.WGKey))
		}
		t.del(k.dev(id))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return released, nil
}
