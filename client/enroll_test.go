package client_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/client/clienttest"
)

func newHA(t testing.TB, cfg clienttest.Config) *clienttest.HomeAgent {
	t.Helper()
	ha, err := clienttest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ha.Close() })
	return ha
}

func newDir(t testing.TB) *client.StateDir {
	t.Helper()
	d, err := client.OpenStateDir(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEnroll(t *testing.T) {
	ha := newHA(t, clienttest.Config{})
	tok, err := ha.AddDevice("laptop")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := newDir(t)
	st, err := client.Enroll(ctx, dir, tok, client.EnrollOptions{Hostname: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if st.DeviceID == "" || st.DeviceName != "laptop" || st.HomeAgent.Fingerprint != ha.Fingerprint() {
		t.Errorf("enrolment = %+v", st)
	}
	loaded, err := dir.Load()
	if err != nil || loaded.DeviceID != st.DeviceID {
		t.Fatalf("not persisted: %+v %v", loaded, err)
	}
	// Enrolling the same directory again is refused before any network.
	if _, err := client.Enroll(ctx, dir, tok, client.EnrollOptions{}); !errors.Is(err, client.ErrAlreadyEnrolled) {
		t.Errorf("second enrolment of a directory: %v", err)
	}
	// The token is spent.
	other := newDir(t)
	_, err = client.Enroll(ctx, other, tok, client.EnrollOptions{})
	if !errors.Is(err, client.ErrRejected) || !errors.Is(err, binding.ErrBadToken) {
		t.Errorf("replayed token: %v", err)
	}
	if _, err := other.Load(); !errors.Is(err, client.ErrNotEnrolled) {
		t.Errorf("a refused enrolment left state behind: %v", err)
	}
}

func TestEnrollErrors(t *testing.T) {
	ha := newHA(t, clienttest.Config{})
	ctx := context.Background()
	good, err := ha.AddDevice("phone")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("malformed", func(t *testing.T) {
		for _, bad := range []string{"", "hello", good[:len(good)-3], strings.Replace(good, good[10:11], flip(good[10:11]), 1)} {
			if _, err := client.Enroll(ctx, newDir(t), bad, client.EnrollOptions{}); !errors.Is(err, client.ErrInvalid) {
				t.Errorf("token %q: %v", bad, err)
			}
		}
	})
	t.Run("fingerprint mismatch", func(t *testing.T) {
		tok, err := binding.EncodeToken(binding.Token{Addrs: []netip.AddrPort{ha.Addr()}, Fingerprint: [32]byte{1}, Secret: [16]byte{2}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enroll(ctx, newDir(t), tok, client.EnrollOptions{}); !errors.Is(err, client.ErrFingerprintMismatch) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		// A bound UDP socket that never answers.
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		tok, err := binding.EncodeToken(binding.Token{Addrs: []netip.AddrPort{pc.LocalAddr().(*net.UDPAddr).AddrPort()}, Fingerprint: ha.Fingerprint()})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = client.Enroll(ctx, newDir(t), tok, client.EnrollOptions{Timeout: 500 * time.Millisecond})
		if !errors.Is(err, client.ErrUnreachable) {
			t.Errorf("got %v", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("took %v", time.Since(start))
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		tok, err := binding.EncodeToken(binding.Token{Addrs: []netip.AddrPort{ha.Addr()}, Fingerprint: ha.Fingerprint(), Secret: [16]byte{9}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enroll(ctx, newDir(t), tok, client.EnrollOptions{}); !errors.Is(err, binding.ErrBadToken) {
			t.Errorf("got %v", err)
		}
	})
}

// flip changes one base32 character into another.
func flip(s string) string {
	if s == "a" {
		return "b"
	}
	return "a"
}
