package bboltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/homeip/homeip/store"
)

// noPanic runs f and turns a panic into a test failure naming what.
func noPanic(t *testing.T, what string, f func() error) error {
	t.Helper()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("%s panicked on a damaged store: %v", what, r)
				err = fmt.Errorf("panicked: %v", r)
			}
		}()
		err = f()
	}()
	return err
}

// TestDamagedPagesAreErrors damages the store's pages one at a time (and
// then all data pages at once), with the meta pages intact so that bbolt
// opens the file: no call may panic; Open or Check must report
// ErrCorrupt, and the other calls succeed or report ErrCorrupt.
func TestDamagedPagesAreErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "homeip.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 200 {
		if err := s.CreateDevice(ctx, store.Device{ID: fmt.Sprintf("d%04d", i), Name: fmt.Sprintf("dev%d", i), Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	clean, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	pages := len(clean) / page
	damaged := 0
	for p := 2; p <= pages; p++ {
		content := append([]byte(nil), clean...)
		from, to := p*page, (p+1)*page
		what := fmt.Sprintf("page %d", p)
		if p == pages { // every data page at once
			from, to, what = 2*page, len(content), "every data page"
		}
		for off := from; off < to; off++ {
			content[off] = 0xa5
		}
		dpath := filepath.Join(dir, fmt.Sprintf("damaged-%d.db", p))
		if err := os.WriteFile(dpath, content, 0o600); err != nil {
			t.Fatal(err)
		}
		var s2 *Store
		err := noPanic(t, what+": Open", func() error {
			var err error
			s2, err = Open(dpath, Options{})
			return err
		})
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("%s: Open = %v, want ErrCorrupt", what, err)
			}
			damaged++
			continue
		}
		if p == pages {
			t.Errorf("%s: Open succeeded", what)
		}
		err = noPanic(t, what+": Devices", func() error { _, err := s2.Devices(ctx); return err })
		if err != nil && !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s: Devices = %v, want ErrCorrupt or nil", what, err)
		}
		err = noPanic(t, what+": CreateDevice", func() error {
			return s2.CreateDevice(ctx, store.Device{ID: "new", Name: "new", Created: t0})
		})
		if err != nil && !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s: CreateDevice = %v, want ErrCorrupt or nil", what, err)
		}
		err = noPanic(t, what+": Check", func() error { return s2.Check(ctx) })
		if errors.Is(err, store.ErrCorrupt) {
			damaged++
		} else if err != nil {
			t.Errorf("%s: Check = %v, want ErrCorrupt", what, err)
		}
		noPanic(t, what+": Close", s2.Close)
	}
	// A page bbolt has freed (many, after 200 transactions) may be
	// damaged harmlessly; the pages in use may not.
	if damaged < 2 {
		t.Errorf("damage found in %d of %d cases", damaged, pages-1)
	}
}
