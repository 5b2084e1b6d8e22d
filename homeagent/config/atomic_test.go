package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// watchSyncs records the paths WriteFileAtomic fsyncs during the test.
func watchSyncs(t *testing.T) *[]string {
	var got []string
	synced = func(p string) { got = append(got, p) }
	t.Cleanup(func() { synced = nil })
	return &got
}

// TestDefaultPoolsDurable: the default pools, which every lease depends
// on, are fsynced before the rename and the rename is made durable by
// fsyncing the directory.
func TestDefaultPoolsDurable(t *testing.T) {
	got := watchSyncs(t)
	dir := t.TempDir()
	if _, _, err := DefaultPools(dir, bytes.NewReader([]byte{7, 1, 2, 3, 4, 5})); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, DefaultPoolsFile)
	if want := []string{path + ".tmp", dir}; !slices.Equal(*got, want) {
		t.Fatalf("fsynced %q, want %q", *got, want)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFileAtomic(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "two" {
		t.Fatalf("content %q %v", b, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	// A failed write leaves the old content and no temporary file.
	if err := os.Mkdir(path+".tmp", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("three"), 0o600); err == nil {
		t.Fatal("write over a directory in the way succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Fatalf("content after a failed write %q", b)
	}
}
