package bboltstore

import (
	"fmt"
	"net/netip"

	bolt "go.etcd.io/bbolt"

	"github.com/homeip/homeip/store"
)

// checkInvariants verifies the store's own consistency inside tx.
func checkInvariants(tx *bolt.Tx) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("bboltstore: check: %w: %s", store.ErrCorrupt, fmt.Sprintf(format, args...))
	}
	devs := map[string]store.Device{}
	err := tx.Bucket(bDevices).ForEach(func(k, v []byte) error {
		d, err := decodeDevice(v)
		if err != nil {
			return err
		}
		if d.ID != string(k) {
			return bad("device key %q holds record of %q", k, d.ID)
		}
		if id := tx.Bucket(bName).Get([]byte(d.Name)); string(id) != d.ID {
			return bad("name %q of %q indexed to %q", d.Name, d.ID, id)
		}
		if len(d.IdentityKey) > 0 && string(tx.Bucket(bIKey).Get(d.IdentityKey)) != d.ID {
			return bad("identity key of %q not indexed", d.ID)
		}
		if d.WGKey != ([32]byte{}) && string(tx.Bucket(bWGKey).Get(d.WGKey[:])) != d.ID {
			return bad("WireGuard key of %q not indexed", d.ID)
		}
		devs[d.ID] = d
		return nil
	})
	if err != nil {
		return err
	}
	for _, b := range [][]byte{bName, bIKey, bWGKey} {
		if n := tx.Bucket(b).Stats().KeyN; n > len(devs) {
			return bad("index %s has %d entries for %d devices", b, n, len(devs))
		}
	}
	type famKey struct {
		id   string
		fam  int
		kind byte
	}
	seen := map[famKey]netip.Addr{}
	addrs := func(bucket []byte, kind byte) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			a, err := keyAddr(k)
			if err != nil {
				return err
			}
			id, _, err := decodeHolder(string(bucket), v)
			if err != nil {
				return err
			}
			if _, ok := devs[id]; !ok {
				return bad("%s %v belongs to missing device %q", bucket, a, id)
			}
			fk := famKey{id, store.Family(a), kind}
			if prev, dup := seen[fk]; dup {
				return bad("device %q has two %s entries of one family: %v and %v", id, bucket, prev, a)
			}
			seen[fk] = a
			if tx.Bucket(bDevAddr).Get(devAddrKey(id, kind, a)) == nil {
				return bad("%s %v of %q not indexed", bucket, a, id)
			}
			return nil
		})
	}
	if err := addrs(bLeases, kindLease); err != nil {
		return err
	}
	if err := addrs(bResv, kindReservation); err != nil {
		return err
	}
	if n := tx.Bucket(bDevAddr).Stats().KeyN; n != len(seen) {
		return bad("dev_addr has %d entries for %d leases and reservations", n, len(seen))
	}
	err = tx.Bucket(bQuar).ForEach(func(k, v []byte) error {
		q, err := decodeQuarantined(k, v)
		if err != nil {
			return err
		}
		if tx.Bucket(bLeases).Get(k) != nil {
			return bad("quarantined address %v is leased", q.Addr)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bTokens).ForEach(func(k, v []byte) error {
		t, err := decodeToken(k, v)
		if err != nil {
			return err
		}
		if _, ok := devs[t.DeviceID]; !ok {
			return bad("token of missing device %q", t.DeviceID)
		}
		if tx.Bucket(bDevToken).Get(append(devPrefix(t.DeviceID), k...)) == nil {
			return bad("token of %q not indexed", t.DeviceID)
		}
		return nil
	})
}
