package bboltstore

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/homeip/homeip/pool"
	"github.com/homeip/homeip/store"
)

func TestWalkGroupedCorruptIndex(t *testing.T) {
	for name, key := range map[string][]byte{
		"no NUL":       []byte("devL\x0a\x01\x01\x01"),
		"bad address":  append([]byte("dev\x00L"), 1, 2, 3),
		"bad id":       append([]byte("\xff\x00L"), 10, 0, 0, 1),
		"missing kind": []byte("dev\x00"),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bDevAddr).Put(key, nil) }); err != nil {
				t.Fatal(err)
			}
			err = s.WalkGrouped(context.Background(), func(string, []netip.Addr) error { return nil }, store.Visitor{})
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("WalkGrouped over dev_addr key %q: %v", key, err)
			}
		})
	}
}

// TestWalkGroupedMany walks thousands of devices, checks every one comes
// once, in order, with the addresses the pool gave it, and stops a walk
// half-way.
func TestWalkGroupedMany(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := pool.New(benchPoolConfig)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	bulkCreate(t, s, n, "dev-", p)
	ctx := context.Background()
	var last string
	devs, leases := 0, 0
	err = s.WalkGrouped(ctx, func(id string, addrs []netip.Addr) error {
		if id <= last {
			t.Fatalf("device %q after %q", id, last)
		}
		last = id
		devs++
		leases += len(addrs)
		for _, a := range addrs {
			if h, _ := p.Holder(a); h != id {
				t.Fatalf("%v listed for %q, held by %q", a, id, h)
			}
		}
		return nil
	}, store.Visitor{})
	if err != nil || devs != n || leases != 2*n {
		t.Fatalf("WalkGrouped: %v after %d devices, %d leases; want %d, %d", err, devs, leases, n, 2*n)
	}
	stop := errors.New("stop")
	devs = 0
	err = s.WalkGrouped(ctx, func(string, []netip.Addr) error {
		if devs++; devs == 2501 {
			return stop
		}
		return nil
	}, store.Visitor{})
	if !errors.Is(err, stop) || devs != 2501 {
		t.Fatalf("stopped WalkGrouped: %v after %d devices", err, devs)
	}
}
