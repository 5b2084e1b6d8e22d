package bboltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/homeip/homeip/store"
)

// refusal marks a logical refusal (not found, conflict...) returned by a
// transaction function before it wrote anything: the shared batch
// transaction still commits, and the caller gets the wrapped error.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

func refuse(err error) error { return refusal{err} }

// update runs fn in a read-write transaction; batched ones share a
// transaction and an fsync with concurrent callers (bbolt Batch).
func (s *Store) update(ctx context.Context, what string, batched bool, fn func(tx *bolt.Tx) error) (err error) {
	done, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("bboltstore: %s: %w", what, err)
	}
	defer done()
	defer s.recoverCorrupt(what, &err)
	var refused error
	run := func(tx *bolt.Tx) (err error) {
		defer s.recoverCorrupt(what, &err)
		refused = nil // Batch may run fn again
		err = fn(tx)
		var r refusal
		if errors.As(err, &r) {
			refused = r.err
			return nil
		}
		return err
	}
	if batched {
		err = s.db.Batch(run)
	} else {
		err = s.db.Update(run)
	}
	if err != nil {
		if errors.Is(err, berrors.ErrDatabaseNotOpen) {
			err = net.ErrClosed
		}
		s.log.Error("transaction failed", "op", what, "err", err)
		return fmt.Errorf("bboltstore: %s: %w", what, err)
	}
	if refused != nil {
		return fmt.Errorf("bboltstore: %s: %w", what, refused)
	}
	return nil
}

// view runs fn in a read-only transaction; a refusal fn returns reaches
// the caller as the error it wraps.
func (s *Store) view(ctx context.Context, what string, fn func(tx *bolt.Tx) error) (err error) {
	done, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("bboltstore: %s: %w", what, err)
	}
	defer done()
	defer s.recoverCorrupt(what, &err)
	if err := s.db.View(fn); err != nil {
		var r refusal
		if errors.As(err, &r) {
			err = r.err
		}
		if errors.Is(err, berrors.ErrDatabaseNotOpen) {
			err = net.ErrClosed
		}
		return fmt.Errorf("bboltstore: %s: %w", what, err)
	}
	return nil
}

// recoverCorrupt turns a panic of bbolt's into an error wrapping
// store.ErrCorrupt: bbolt panics when it meets a damaged page (an
// unknown page type, a freelist that makes no sense), and the home agent
// should say the file is damaged and stop, not crash. bbolt rolls the
// transaction back before the panic reaches here. A panic of this
// package's own would be reported the same way, so the stack is logged.
// Deferred by every transaction; err is the function's result.
func (s *Store) recoverCorrupt(what string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	s.log.Error("bbolt panicked: the store file is damaged", "op", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	*err = corruptPanic(what, r)
}

func corruptPanic(what string, r any) error {
	return fmt.Errorf("bboltstore: %s: %w: bbolt: %v (run ha check)", what, store.ErrCorrupt, r)
}

// getDevice reads and decodes a device record; found is false if absent.
func getDevice(tx *bolt.Tx, id string) (store.Device, bool, error) {
	v := tx.Bucket(bDevices).Get([]byte(id))
	if v == nil {
		return store.Device{}, false, nil
	}
	d, err := decodeDevice(v)
	return d, err == nil, err
}

// mustDevice is getDevice with absence as a refusal.
func mustDevice(tx *bolt.Tx, id string) (store.Device, error) {
	d, ok, err := getDevice(tx, id)
	if err != nil {
		return d, err
	}
	if !ok {
		return d, refuse(fmt.Errorf("device %q: %w", id, store.ErrNotFound))
	}
	return d, nil
}

func putDevice(tx *bolt.Tx, d store.Device) error {
	return tx.Bucket(bDevices).Put([]byte(d.ID), encodeDevice(d))
}

// Kinds of dev_addr index entries.
const (
	kindLease       = 'L'
	kindReservation = 'R'
)

func devPrefix(id string) []byte { return append([]byte(id), 0) }

func devAddrKey(id string, kind byte, a netip.Addr) []byte {
	return append(append(devPrefix(id), kind), addrKey(a)...)
}

// devAddrs lists a device's addresses of one kind.
func devAddrs(tx *bolt.Tx, id string, kind byte) ([]netip.Addr, error) {
	pre := append(devPrefix(id), kind)
	var out []netip.Addr
	c := tx.Bucket(bDevAddr).Cursor()
	for k, _ := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, _ = c.Next() {
		a, err := keyAddr(k[len(pre):])
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// devAddrOfFamily returns a device's address of one kind and family.
func devAddrOfFamily(tx *bolt.Tx, id string, kind byte, fam int) (netip.Addr, error) {
	as, err := devAddrs(tx, id, kind)
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
