package bboltstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/storetest"
)

// openTemp opens a fresh store in the test's temporary directory; its
// consistency is checked when the test ends.
func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "homeip.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		s2, err := Open(s.Path(), Options{})
		if err != nil {
			t.Errorf("reopen: %v", err)
			return
		}
		defer s2.Close()
		if err := s2.Check(context.Background()); err != nil {
			t.Errorf("check: %v", err)
		}
	})
	return s
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}
