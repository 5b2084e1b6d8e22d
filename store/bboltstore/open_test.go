package bboltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/storetest"
)

func TestOpenRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]byte{
		"text":    []byte("this is a config file, not a database\n"),
		"zeros":   make([]byte, 16384),
		"garbage": bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 5000),
	}
	for name, content := range cases {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path, Options{})
		if !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s: Open = %v, want ErrCorrupt", name, err)
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(after, content) {
			t.Errorf("%s: file was modified", name)
		}
	}
}

func TestOpenRefusesForeignBolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("someone-elses"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	if _, err := Open(path, Options{}); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("foreign bolt file was modified")
	}
}

func TestOpenRefusesCorruptMeta(t *testing.T) {
	path := filepath.Join(t.TempDir(), "homeip.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	content, _ := os.ReadFile(path)
	// Damage both bbolt meta pages' checksums (but not the magic).
	for _, off := range []int{64, 4096 + 64} {
		content[off] ^= 0xff
	}
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, content) {
		t.Fatal("corrupt file was modified")
	}
}

func TestSchemaVersionAndMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "homeip.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDevice(context.Background(), storetest.NewDevice("a")); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// A migration to schema 2 runs once, in the opening transaction.
	ran := 0
	migs := []Migration{{From: 1, Run: func(tx *bolt.Tx) error {
		ran++
		_, err := tx.CreateBucket([]byte("v2-extra"))
		return err
	}}}
	s2, err := open(path, Options{}, 2, migs)
	if err != nil {
		t.Fatal(err)
	}
	if ran != 1 {
		t.Fatalf("migration ran %d times", ran)
	}
	if d, err := s2.Device(context.Background(), "a"); err != nil || d.ID != "a" {
		t.Fatalf("data lost in migration: %v", err)
	}
	s2.Close()
	if s3, err := open(path, Options{}, 2, migs); err != nil || ran != 1 {
		t.Fatalf("reopen at schema 2: %v, migration ran %d times", err, ran)
	} else {
		s3.Close()
	}

	// This program (schema 1) refuses the newer file and leaves it alone.
	before, _ := os.ReadFile(path)
	if _, err := Open(path, Options{}); !errors.Is(err, store.ErrSchema) {
		t.Fatalf("Open newer schema = %v, want ErrSchema", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("newer-schema file was modified")
	}

	// A failing migration changes nothing.
	path2 := filepath.Join(t.TempDir(), "b.db")
	s4, err := Open(path2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s4.Close()
	bad := []Migration{{From: 1, Run: func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("half-done")); err != nil {
			return err
		}
		return errors.New("disk says no")
	}}}
	if _, err := open(path2, Options{}, 2, bad); err == nil {
		t.Fatal("failed migration opened the store")
	}
	s5, err := Open(path2, Options{})
	if err != nil {
		t.Fatalf("store unusable after a failed migration: %v", err)
	}
	s5.Close()
	// No migration registered for a step: refused.
	if _, err := open(path2, Options{}, 3, nil); !errors.Is(err, store.ErrSchema) {
		t.Fatalf("missing migration: %v", err)
	}
}

func TestLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "homeip.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(path, Options{LockTimeout: 50 * 1e6}); err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
}

func TestOpenRefusesTruncatedStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "homeip.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := s.CreateDevice(context.Background(), storetest.NewDevice(fmt.Sprint("d", i))); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	full, _ := os.ReadFile(path)
	for _, n := range []int{100, 5000, len(full) / 2} {
		cut := filepath.Join(dir, fmt.Sprint("cut", n))
		if err := os.WriteFile(cut, full[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(cut, Options{})
		if err == nil {
			// bbolt may still read a store cut after its last used
			// page; then it must be consistent.
			err = s.Check(context.Background())
			s.Close()
			if err == nil {
				continue
			}
		}
		if !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("store cut to %d bytes: %v, want ErrCorrupt", n, err)
		}
	}
}

// TestReopenWritesNothing checks that opening a store already at the
// current schema commits no transaction (no write, no fsync at start).
func TestReopenWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	txid := func() int {
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var id int
		if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := txid()
	if again := txid(); again != first {
		t.Fatalf("reopening moved the transaction id from %d to %d", first, again)
	}
}
