package bboltstore

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

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
