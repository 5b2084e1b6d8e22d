package homeagent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
)

// TestStandbyCareOf binds Wi-Fi and cellular paths at once (RFC 5648): the
// higher-priority observed path is primary, the other is standby, and
// removing the primary promotes the standby without a new registration.
func TestStandbyCareOf(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	dev := newDevice(t)
	wifi, _ := h.enrol("phone", dev)
	wifi.register(dev)
	entries := func(removeWifi bool) []binding.CareOf {
		w := binding.CareOf{BID: 1, Kind: binding.KindWiFi, Priority: 10}
		if removeWifi {
			w.Flags = binding.EntryRemove
		}
		return []binding.CareOf{w, {BID: 2, Kind: binding.KindCellular, Priority: 5}}
	}
	wifi.send(&binding.BindingUpdate{Sequence: 1, Flags: binding.FlagAck, Lifetime: time.Minute, Via: 1, Entries: entries(false)})
	if a := recvAs[*binding.BindingAck](wifi); a.Status != binding.StatusAccepted {
		t.Fatalf("ack %+v", a)
	}
	// The cellular path speaks up from its own address.
	cell := h.dial(dev)
	cell.register(dev)
	cell.send(&binding.BindingUpdate{Sequence: 2, Flags: binding.FlagAck, Lifetime: time.Minute, Via: 2, Entries: entries(false)})
	a := recvAs[*binding.BindingAck](cell)
	if a.Status != binding.StatusAccepted || len(a.Entries) != 2 {
		t.Fatalf("ack %+v", a)
	}
	for _, e := range a.Entries {
		if e.Flags&binding.EntryObserved == 0 || (e.BID == 1) != (e.Flags&binding.EntryPrimary != 0) {
			t.Fatalf("entry %+v: want both observed, Wi-Fi primary", e)
		}
	}
	if p := mustPeer(t, h.dp, dev); p.Endpoint != wifi.local {
		t.Fatalf("endpoint %v, want the Wi-Fi path %v", p.Endpoint, wifi.local)
	}
	// Wi-Fi goes away: the standby cellular path is promoted.
	cell.send(&binding.BindingUpdate{Sequence: 3, Flags: binding.FlagAck, Lifetime: time.Minute, Via: 2, Entries: entries(true)})
	if a := recvAs[*binding.BindingAck](cell); a.Status != binding.StatusAccepted || len(a.Entries) != 1 || a.Entries[0].Flags&binding.EntryPrimary == 0 {
		t.Fatalf("ack %+v", a)
	}
	if p := mustPeer(t, h.dp, dev); p.Endpoint != cell.local {
		t.Fatalf("endpoint %v, want the cellular path %v", p.Endpoint, cell.local)
	}
	bs, _ := h.admin.Bindings()
	if len(bs) != 1 || bs[0].Primary != cell.local || bs[0].LastHandover.IsZero() {
		t.Fatalf("bindings %+v", bs)
	}
}

func TestIdentityPersisted(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{IdentityKeyFile, WireGuardKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi.Mode(), err)
		}
	}
	b, err := LoadIdentity(dir)
	if err != nil || b.Fingerprint != a.Fingerprint || b.WGKey != a.WGKey {
		t.Fatalf("identity changed on reload: %v", err)
	}
	os.Chmod(filepath.Join(dir, IdentityKeyFile), 0o644)
	if _, err := LoadIdentity(dir); err == nil {
		t.Fatal("world-readable identity key accepted")
	}
	os.Chmod(filepath.Join(dir, IdentityKeyFile), 0o600)
	os.WriteFile(filepath.Join(dir, WireGuardKeyFile), []byte("garbage\n"), 0o600)
	if _, err := LoadIdentity(dir); err == nil {
		t.Fatal("corrupt WireGuard key accepted")
	}
}

func TestAdminSocketMode(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	fi, err := os.Stat(h.cfg.AdminSocket)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("admin socket %v %v", fi.Mode(), err)
	}
}
