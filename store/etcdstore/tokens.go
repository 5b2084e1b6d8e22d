package etcdstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/homeip/homeip/store"
)

// AddToken stores an enrolment token for an existing, active device, in
// one transaction comparing the token key and the device key.
func (s *Store) AddToken(ctx context.Context, t store.Token) error {
	if err := store.ValidateID(t.DeviceID); err != nil {
		return fmt.Errorf("etcdstore: adding token: %w", err)
	}
	if t.Expires.IsZero() || !t.Used.IsZero() {
		return fmt.Errorf("etcdstore: adding token for %q: %w: needs an expiry and must be unused", t.DeviceID, store.ErrInvalid)
	}
	for _, tm := range []time.Time{t.Created, t.Expires} {
		if err := checkTime("token", tm); err != nil {
			return fmt.Errorf("etcdstore: adding token for %q: %w", t.DeviceID, err)
		}
	}
	k := s.k
	return s.update(ctx, "adding token for "+t.DeviceID, func(x *tx) error {
		if err := x.fetch(k.dev(t.DeviceID), k.tok(t.Hash)); err != nil {
			return err
		}
		d, err := x.mustDevice(t.DeviceID)
		if err != nil {
			return err
		}
		if !d.Active() {
			return refuse(fmt.Errorf("device %q: %w", d.ID, store.ErrRevoked))
		}
		if _, ok, _ := x.get(k.tok(t.Hash)); ok {
			return refuse(fmt.Errorf("token: %w", store.ErrExists))
		}
		x.put(k.tok(t.Hash), encodeToken(t))
		x.put(k.devTokOf(t.DeviceID, t.Hash), nil)
		x.putDevice(d)
		return nil
	})
}

// tokenHash decodes the hex hash at the end of a tok or devtok key.
func tokenHash(key []byte, pre string) ([32]byte, error) {
	var h [32]byte
	rest, ok := bytes.CutPrefix(key, []byte(pre))
	if !ok || len(rest) != 64 {
		return h, fmt.Errorf("%w: token key %q", store.ErrCorrupt, key)
	}
	if _, err := hex.Decode(h[:], rest); err != nil {
		return h, fmt.Errorf("%w: token key %q: %v", store.ErrCorrupt, key, err)
	}
	return h, nil
}

// RedeemToken checks and uses a token atomically and records the device's
// keys: one transaction comparing the token key, the device key and the
// index keys of the new identity and WireGuard keys. Of concurrent
// redemptions of one token exactly one commits; the others, deciding
// again from the token's new value, find it used.
func (s *Store) RedeemToken(ctx context.Context, hash [32]byte, now time.Time, e store.Enrolment) (store.Device, error) {
	if err := e.Validate(); err != nil {
		return store.Device{}, fmt.Errorf("etcdstore: redeeming token: %w", err)
	}
	if err := checkTime("enrolment", now); err != nil || now.IsZero() {
		return store.Device{}, fmt.Errorf("etcdstore: redeeming token: %w: bad time %v", store.ErrInvalid, now)
	}
	k := s.k
	var out store.Device
	err := s.update(ctx, "redeeming token", func(x *tx) error {
		out = store.Device{}
		v, ok, err := x.get(k.tok(hash))
		if err != nil {
			return err
		}
		if !ok {
			return refuse(fmt.Errorf("%w: unknown token", store.ErrTokenInvalid))
		}
		t, err := decodeToken(hash, v)
		if err != nil {
			return err
		}
		switch {
		case !t.Used.IsZero():
			return refuse(fmt.Errorf("%w: used at %v", store.ErrTokenInvalid, t.Used))
		case !now.Before(t.Expires):
			return refuse(fmt.Errorf("%w: expired at %v", store.ErrTokenInvalid, t.Expires))
		}
		if err := x.fetch(k.dev(t.DeviceID), k.ikey(e.IdentityKey), k.wgkey(e.WGKey)); err != nil {
			return err
		}
		d, ok, err := x.getDevice(t.DeviceID)
		if err != nil {
			return err
		}
		if !ok {
			return refuse(fmt.Errorf("%w: device %q is gone", store.ErrTokenInvalid, t.DeviceID))
		}
		if !d.Active() {
			return refuse(fmt.Errorf("device %q: %w", d.ID, store.ErrRevoked))
		}
		if id, ok, _ := x.get(k.ikey(e.IdentityKey)); ok && string(id) != d.ID {
			return refuse(fmt.Errorf("identity key belongs to another device: %w", store.ErrExists))
		}
		if id, ok, _ := x.get(k.wgkey(e.WGKey)); ok && string(id) != d.ID {
			return refuse(fmt.Errorf("WireGuard key belongs to another device: %w", store.ErrExists))
		}
		// Re-enrolment replaces the keys; the device keeps its leases.
		if len(d.IdentityKey) > 0 && !bytes.Equal(d.IdentityKey, e.IdentityKey) {
			x.del(k.ikey(d.IdentityKey))
		}
		if d.WGKey != ([32]byte{}) && d.WGKey != e.WGKey {
			x.del(k.wgkey(d.WGKey))
		}
		d.IdentityKey = append([]byte(nil), e.IdentityKey...)
		d.WGKey = e.WGKey
		d.Enrolled = now
		t.Used = now
		// Enrolment ends every other token of the device: one issued
		// earlier must not re-enrol someone else.
		others, err := x.list(k.devTok(d.ID))
		if err != nil {
			return err
		}
		for _, kv := range others {
			h, err := tokenHash(kv.Key, k.devTok(d.ID))
			if err != nil {
				return err
			}
			if h != hash {
				x.del(string(kv.Key))
				x.del(k.tok(h))
			}
		}
		x.put(k.tok(hash), encodeToken(t))
		x.putIndexes(d)
		x.putDevice(d)
		out = d
		return nil
	})
	if err != nil {
		return store.Device{}, err
	}
	return out, nil
}

// Token returns the token with that hash, read-only.
func (s *Store) Token(ctx context.Context, hash [32]byte) (store.Token, error) {
	var out store.Token
	err := s.view(ctx, "looking a token up", func(ctx context.Context) error {
		v, _, err := s.getAt(ctx, s.k.tok(hash), 0)
		if err != nil {
			return err
		}
		if v == nil {
			return refuse(fmt.Errorf("token: %w", store.ErrNotFound))
		}
		out, err = decodeToken(hash, v)
		return err
	})
	if err != nil {
		return store.Token{}, err
	}
	return out, nil
}

// tokensOf reads a device's tokens at one revision (ErrNotFound refusal
// for an unknown device).
func (s *Store) tokensOf(ctx context.Context, deviceID string) ([]store.Token, error) {
	v, rev, err := s.getAt(ctx, s.k.dev(deviceID), 0)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, refuse(fmt.Errorf("device %q: %w", deviceID, store.ErrNotFound))
	}
	pre := s.k.devTok(deviceID)
	var hs [][32]byte
	if _, err := s.rangeAt(ctx, pre, rev, func(kv *mvccpb.KeyValue) error {
		h, err := tokenHash(kv.Key, pre)
		hs = append(hs, h)
		return err
	}); err != nil {
		return nil, err
	}
	var out []store.Token
	for _, h := range hs {
		rctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
		resp, err := s.cli.Get(rctx, s.k.tok(h), withRev(rev)...)
		cancel()
		if err != nil {
			return nil, err
		}
		if len(resp.Kvs) == 0 {
			return nil, fmt.Errorf("%w: token index entry of %q without a token", store.ErrCorrupt, deviceID)
		}
		t, err := decodeToken(h, resp.Kvs[0].Value)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Tokens lists a device's tokens, ordered by creation time.
func (s *Store) Tokens(ctx context.Context, deviceID string) ([]store.Token, error) {
	if err := store.ValidateID(deviceID); err != nil {
		return nil, fmt.Errorf("etcdstore: listing tokens: %w", err)
	}
	var out []store.Token
	err := s.view(ctx, "listing tokens of "+deviceID, func(ctx context.Context) error {
		var err error
		out, err = s.tokensOf(ctx, deviceID)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b store.Token) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// CancelTokens removes a device's unredeemed tokens and returns how many,
// in one transaction comparing the device key and every removed token's
// key.
func (s *Store) CancelTokens(ctx context.Context, deviceID string) (int, error) {
	if err := store.ValidateID(deviceID); err != nil {
		return 0, fmt.Errorf("etcdstore: cancelling tokens: %w", err)
	}
	k := s.k
	n := 0
	err := s.update(ctx, "cancelling tokens of "+deviceID, func(x *tx) error {
		n = 0
		d, err := x.mustDevice(deviceID)
		if err != nil {
			return err
		}
		pre := k.devTok(deviceID)
		entries, err := x.list(pre)
		if err != nil {
			return err
		}
		var hs [][32]byte
		var tokKeys []string
		for _, kv := range entries {
			h, err := tokenHash(kv.Key, pre)
			if err != nil {
				return err
			}
			hs = append(hs, h)
			tokKeys = append(tokKeys, k.tok(h))
		}
		if err := x.fetch(tokKeys...); err != nil {
			return err
		}
		for i, h := range hs {
			v, ok, _ := x.get(tokKeys[i])
			if !ok {
				return fmt.Errorf("%w: token index entry of %q without a token", store.ErrCorrupt, deviceID)
			}
			t, err := decodeToken(h, v)
			if err != nil {
				return err
			}
			if t.Used.IsZero() {
				x.del(tokKeys[i])
				x.del(k.devTokOf(deviceID, h))
				n++
			}
		}
		if n > 0 {
			x.putDevice(d)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// hashOfTokKey decodes the hash of a tok key.
func (k keys) hashOfTokKey(key []byte) ([32]byte, error) {
	return tokenHash(key, k.toks())
}

// devTokParts splits a devtok key into device id and hash.
func (k keys) devTokParts(key []byte) (string, [32]byte, error) {
	rest := strings.TrimPrefix(string(key), k.devToks())
	id, hx, ok := strings.Cut(rest, "\x00")
	if !ok || store.ValidateID(id) != nil {
		return "", [32]byte{}, fmt.Errorf("%w: devtok key %q", store.ErrCorrupt, key)
	}
	h, err := tokenHash([]byte(hx), "")
	return id, h, err
}
