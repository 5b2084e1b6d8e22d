package bboltstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/homeip/homeip/store"
)

// AddToken stores an enrolment token for an existing, active device.
func (s *Store) AddToken(ctx context.Context, t store.Token) error {
	if err := store.ValidateID(t.DeviceID); err != nil {
		return fmt.Errorf("bboltstore: adding token: %w", err)
	}
	if t.Expires.IsZero() || !t.Used.IsZero() {
		return fmt.Errorf("bboltstore: adding token for %q: %w: needs an expiry and must be unused", t.DeviceID, store.ErrInvalid)
	}
	for _, tm := range []time.Time{t.Created, t.Expires} {
		if err := checkTime("token", tm); err != nil {
			return fmt.Errorf("bboltstore: adding token for %q: %w", t.DeviceID, err)
		}
	}
	return s.update(ctx, "adding token for "+t.DeviceID, true, func(tx *bolt.Tx) error {
		d, err := mustDevice(tx, t.DeviceID)
		if err != nil {
			return err
		}
		if !d.Active() {
			return refuse(fmt.Errorf("device %q: %w", d.ID, store.ErrRevoked))
		}
		if tx.Bucket(bTokens).Get(t.Hash[:]) != nil {
			return refuse(fmt.Errorf("token: %w", store.ErrExists))
		}
		if err := tx.Bucket(bTokens).Put(t.Hash[:], encodeToken(t)); err != nil {
			return err
		}
		return tx.Bucket(bDevToken).Put(append(devPrefix(t.DeviceID), t.Hash[:]...), nil)
	})
}

// RedeemToken checks and uses a token atomically and records the device's
// keys.
func (s *Store) RedeemToken(ctx context.Context, hash [32]byte, now time.Time, e store.Enrolment) (store.Device, error) {
	if err := e.Validate(); err != nil {
		return store.Device{}, fmt.Errorf("bboltstore: redeeming token: %w", err)
	}
	if err := checkTime("enrolment", now); err != nil || now.IsZero() {
		return store.Device{}, fmt.Errorf("bboltstore: redeeming token: %w: bad time %v", store.ErrInvalid, now)
	}
	var out store.Device
	err := s.update(ctx, "redeeming token", true, func(tx *bolt.Tx) error {
		out = store.Device{}
		v := tx.Bucket(bTokens).Get(hash[:])
		if v == nil {
			return refuse(fmt.Errorf("%w: unknown token", store.ErrTokenInvalid))
		}
		t, err := decodeToken(hash[:], v)
		if err != nil {
			return err
		}
		switch {
		case !t.Used.IsZero():
			return refuse(fmt.Errorf("%w: used at %v", store.ErrTokenInvalid, t.Used))
		case !now.Before(t.Expires):
			return refuse(fmt.Errorf("%w: expired at %v", store.ErrTokenInvalid, t.Expires))
		}
		d, ok, err := getDevice(tx, t.DeviceID)
		if err != nil {
			return err
		}
		if !ok {
			return refuse(fmt.Errorf("%w: device %q is gone", store.ErrTokenInvalid, t.DeviceID))
		}
		if !d.Active() {
			return refuse(fmt.Errorf("device %q: %w", d.ID, store.ErrRevoked))
		}
		if id := tx.Bucket(bIKey).Get(e.IdentityKey); id != nil && string(id) != d.ID {
			return refuse(fmt.Errorf("identity key belongs to another device: %w", store.ErrExists))
		}
		if id := tx.Bucket(bWGKey).Get(e.WGKey[:]); id != nil && string(id) != d.ID {
			return refuse(fmt.Errorf("WireGuard key belongs to another device: %w", store.ErrExists))
		}
		// Re-enrolment replaces the keys; the device keeps its leases.
		if len(d.IdentityKey) > 0 && !bytes.Equal(d.IdentityKey, e.IdentityKey) {
			if err := tx.Bucket(bIKey).Delete(d.IdentityKey); err != nil {
				return err
			}
		}
		if d.WGKey != ([32]byte{}) && d.WGKey != e.WGKey {
			if err := tx.Bucket(bWGKey).Delete(d.WGKey[:]); err != nil {
				return err
			}
		}
		d.IdentityKey = append([]byte(nil), e.IdentityKey...)
		d.WGKey = e.WGKey
		d.Enrolled = now
		t.Used = now
		// Enrolment ends every other token of the device: one issued
		// earlier (device add's, when a new token was asked for later)
		// must not re-enrol someone else.
		if err := deleteTokensOf(tx, d.ID, hash[:]); err != nil {
			return err
		}
		if err := tx.Bucket(bTokens).Put(hash[:], encodeToken(t)); err != nil {
			return err
		}
		if err := putDeviceWithIndexes(tx, d); err != nil {
			return err
		}
		out = d
		return nil
	})
	if err != nil {
		return store.Device{}, err
	}
	return out, nil
}

// deleteTokensOf removes every token of a device but the one whose hash
// is keep (nil: all of them).
func deleteTokensOf(tx *bolt.Tx, id string, keep []byte) error {
	pre := devPrefix(id)
	var keys [][]byte
	c := tx.Bucket(bDevToken).Cursor()
	for k, _ := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, _ = c.Next() {
		if keep != nil && bytes.Equal(k[len(pre):], keep) {
			continue
		}
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := tx.Bucket(bTokens).Delete(k[len(pre):]); err != nil {
			return err
		}
		if err := tx.Bucket(bDevToken).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Token returns the token with that hash, read-only.
func (s *Store) Token(ctx context.Context, hash [32]byte) (store.Token, error) {
	var out store.Token
	err := s.view(ctx, "looking a token up", func(tx *bolt.Tx) error {
		v := tx.Bucket(bTokens).Get(hash[:])
		if v == nil {
			return refuse(fmt.Errorf("token: %w", store.ErrNotFound))
		}
		t, err := decodeToken(hash[:], v)
		out = t
		return err
	})
	if err != nil {
		return store.Token{}, err
	}
	return out, nil
}

// Tokens lists a device's tokens, unredeemed and redeemed, ordered by
// creation time.
func (s *Store) Tokens(ctx context.Context, deviceID string) ([]store.Token, error) {
	if err := store.ValidateID(deviceID); err != nil {
		return nil, fmt.Errorf("bboltstore: listing tokens: %w", err)
	}
	var out []store.Token
	err := s.view(ctx, "listing tokens of "+deviceID, func(tx *bolt.Tx) error {
		out = nil
		if _, err := mustDevice(tx, deviceID); err != nil {
			return err
		}
		pre := devPrefix(deviceID)
		c := tx.Bucket(bDevToken).Cursor()
		for k, _ := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, _ = c.Next() {
			h := k[len(pre):]
			v := tx.Bucket(bTokens).Get(h)
			if v == nil {
				return fmt.Errorf("token index entry of %q without a token: %w", deviceID, store.ErrCorrupt)
			}
			t, err := decodeToken(h, v)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Token) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// CancelTokens removes a device's unredeemed tokens and returns how many.
func (s *Store) CancelTokens(ctx context.Context, deviceID string) (int, error) {
	if err := store.ValidateID(deviceID); err != nil {
		return 0, fmt.Errorf("bboltstore: cancelling tokens: %w", err)
	}
	n := 0
	err := s.update(ctx, "cancelling tokens of "+deviceID, false, func(tx *bolt.Tx) error {
		n = 0
		if _, err := mustDevice(tx, deviceID); err != nil {
			return err
		}
		pre := devPrefix(deviceID)
		var keys [][]byte
		c := tx.Bucket(bDevToken).Cursor()
		for k, _ := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, _ = c.Next() {
			h := k[len(pre):]
			v := tx.Bucket(bTokens).Get(h)
			if v == nil {
				return fmt.Errorf("token index entry of %q without a token: %w", deviceID, store.ErrCorrupt)
			}
			t, err := decodeToken(h, v)
			if err != nil {
				return err
			}
			if t.Used.IsZero() {
				keys = append(keys, append([]byte(nil), k...))
			}
		}
		for _, k := range keys {
			if err := tx.Bucket(bTokens).Delete(k[len(pre):]); err != nil {
				return err
			}
			if err := tx.Bucket(bDevToken).Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
