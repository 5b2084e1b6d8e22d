package controlapi

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/homeip/homeip/client"
)

type fakeHandler struct {
	downs atomic.Int32
}

func (h *fakeHandler) Status() client.Status {
	return client.Status{State: "registered", VIP4: netip.MustParseAddr("192.0.2.130"), Seq: 7, Handovers: 2}
}
func (h *fakeHandler) Down() { h.downs.Add(1) }

func TestControlSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mnode.sock")
	ctx := context.Background()
	if _, err := QueryStatus(ctx, path); !errors.Is(err, client.ErrNotRunning) {
		t.Fatalf("status without a node: %v, want ErrNotRunning", err)
	}
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	h := &fakeHandler{}
	srv := NewServer(ln, h, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()

	if _, err := Listen(path); err == nil {
		t.Error("a second listener on a live socket was accepted")
	}
	st, err := QueryStatus(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if st.VIP4 != netip.MustParseAddr("192.0.2.130") || st.Seq != 7 || st.Handovers != 2 {
		t.Errorf("status = %+v", st)
	}
	if err := RequestDown(ctx, path); err != nil {
		t.Fatal(err)
	}
	if h.downs.Load() != 1 {
		t.Errorf("Down called %d times", h.downs.Load())
	}
	if _, err := call(ctx, path, "reboot"); err == nil {
		t.Error("unknown command accepted")
	}
	if err := srv.Close(); err != nil {
		t.Error(err)
	}
	if err := srv.Close(); err != nil {
		t.Error("second Close:", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestControlSocketReplacesStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("stale file not replaced: %v", err)
	}
	ln.Close()
}
