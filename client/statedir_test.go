package client

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStateDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	d, err := OpenStateDir(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", fi.Mode().Perm())
	}
	if _, err := d.Load(); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("Load on empty dir: %v", err)
	}
	if _, err := d.IdentityKey(false); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("IdentityKey(false) on empty dir: %v", err)
	}
	id, err := d.IdentityKey(true)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := d.IdentityKey(false)
	if err != nil || !id.Equal(id2) {
		t.Fatalf("identity key not persisted: %v", err)
	}
	wg, err := d.WireGuardKey(true)
	if err != nil {
		t.Fatal(err)
	}
	wg2, err := d.WireGuardKey(true)
	if err != nil || wg != wg2 {
		t.Fatalf("WireGuard key not persisted: %v", err)
	}
	if _, err := wg.PublicKey(); err != nil {
		t.Fatal(err)
	}
	st := Persisted{
		DeviceID:   "dev-1",
		DeviceName: "laptop",
		HomeAgent:  HomeAgent{Addrs: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:51830")}, Fingerprint: Fingerprint{1, 2, 3}},
		EnrolledAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Config: &NetConfig{
			VIP4: netip.MustParseAddr("192.0.2.130"), VIP6: netip.MustParseAddr("2001:db8:100::5"),
			Routes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/25")}, Lifetime: time.Hour, HAPublicKey: WGKey{9},
		},
		Sequence: 65535,
	}
	if err := d.Save(st); err != nil {
		t.Fatal(err)
	}
	got, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got.DeviceID != st.DeviceID || got.HomeAgent.Fingerprint != st.HomeAgent.Fingerprint || got.Sequence != 65535 ||
		got.Config == nil || got.Config.VIP6 != st.Config.VIP6 || got.Config.HAPublicKey != st.Config.HAPublicKey || !got.EnrolledAt.Equal(st.EnrolledAt) {
		t.Errorf("round trip: got %+v", got)
	}
	for _, f := range []string{identityFile, wgKeyFile, stateFile} {
		fi, err := os.Stat(filepath.Join(path, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	unlock, err := d.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lock(); err == nil {
		t.Error("second lock granted")
	} else if !errors.Is(err, ErrStateBusy) {
		t.Errorf("second lock: %v, want ErrStateBusy", err)
	}
	unlock()
	unlock2, err := d.Lock()
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

func TestStateDirRefusesOpenPermissions(t *testing.T) {
	path := t.TempDir()
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStateDir(path); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenStateDir on a 0755 dir: %v", err)
	}
}

func TestStateDirCorruptFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	d, err := OpenStateDir(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{stateFile: "{not json", wgKeyFile: "short\n", identityFile: "garbage"} {
		if err := os.WriteFile(filepath.Join(path, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Load(); err == nil {
		t.Error("corrupt state accepted")
	}
	if _, err := d.WireGuardKey(true); !errors.Is(err, ErrInvalid) {
		t.Errorf("corrupt WireGuard key: %v", err)
	}
	if _, err := d.IdentityKey(true); !errors.Is(err, ErrInvalid) {
		t.Errorf("corrupt identity key: %v", err)
	}
	// A corrupt key is never silently replaced.
	if b, _ := os.ReadFile(filepath.Join(path, wgKeyFile)); string(b) != "short\n" {
		t.Error("corrupt key file was overwritten")
	}
}
