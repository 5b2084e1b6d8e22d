package homeagent

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
)

// waitKept waits until the bindings file holds device id with sequence
// seq, and returns the file's contents.
func waitKept(t *testing.T, dir, id string, seq uint16) []byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(dir, BindingsFile))
		if err == nil {
			if ks, err := decodeBindings(data); err == nil {
				for _, k := range ks {
					if k.b.Device == id && k.b.Sequence == seq {
						return data
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("bindings file does not hold device %s at sequence %d after 5 s", id, seq)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBindingsSurviveCrash: the binding is written behind while the home
// agent runs; a home agent started on that file (what a kill -9 leaves)
// re-creates the peer at the care-of address before the device says
// anything, refuses a replayed update, keeps the remaining lifetime and
// accepts the device's next update.
func TestBindingsSurviveCrash(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := startHA(t, dir, labConfig(""), clock)
	dev := newDevice(t)
	c, eack := h.enrol("phone", dev)
	c.register(dev)
	if ack := c.bind(7); ack.Status != binding.StatusAccepted {
		t.Fatalf("binding ack %+v", ack)
	}
	crashed := waitKept(t, dir, eack.DeviceID, 7)
	h.stop()
	// A write that a crash cut short: its temporary file, half written.
	unfinished := filepath.Join(dir, BindingsFile+".tmp123456")
	if err := os.WriteFile(unfinished, crashed[:len(crashed)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	// What a kill -9 would have left: the file as written behind, not
	// the one the clean shutdown wrote; with a path MTU limit the device
	// had announced (loopback has none to find).
	ks, err := decodeBindings(crashed)
	if err != nil || len(ks) != 1 {
		t.Fatalf("kept %d bindings (%v), want 1", len(ks), err)
	}
	ks[0].mtu = pathMTU{Limit: 1300, State: mtuDevice}
	if err := os.WriteFile(filepath.Join(dir, BindingsFile), encodeBindings(ks), 0o600); err != nil {
		t.Fatal(err)
	}

	clock.Advance(10 * time.Second)
	h2 := startHA(t, dir, labConfig(""), clock)
	p := mustPeer(t, h2.dp, dev)
	if p.Endpoint != c.local || p.MTU != 1300 {
		t.Fatalf("restored peer's endpoint %v, MTU %d; want the care-of address %v, MTU 1300", p.Endpoint, p.MTU, c.local)
	}
	bs, err := h2.admin.Bindings()
	if err != nil || len(bs) != 1 || bs[0].Primary != c.local || bs[0].Sequence != 7 || bs[0].PathMTU != 1300 || bs[0].PathMTUState != mtuDevice {
		t.Fatalf("bindings after the restart %+v %v", bs, err)
	}

	if _, err := os.Stat(unfinished); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unfinished write's temporary file is still there: %v", err)
	}
	c2 := h2.dial(dev)
	if r := c2.register(dev); r.Status != binding.StatusAccepted {
		t.Fatalf("register after the restart %+v", r)
	}
	if p := mustPeer(t, h2.dp, dev); p.Endpoint != c.local {
		t.Fatalf("registration moved the restored peer to %v; the binding's primary path %v should stay until an update", p.Endpoint, c.local)
	}
	if ack := c2.bind(7); ack.Status != binding.StatusStaleSequence || ack.Sequence != 7 {
		t.Fatalf("replayed update after the restart: ack %+v, want stale sequence at 7", ack)
	}

	// 30 s lifetime, 10 s passed: expired 20 s after the restart, not 30.
	clock.Advance(21 * time.Second)
	h2.srv.ExpirePending()
	if _, ok := h2.srv.cache.Lookup(eack.DeviceID); ok {
		t.Fatal("restored binding outlived its remaining lifetime")
	}
	if ack := c2.bind(8); ack.Status != binding.StatusAccepted {
		t.Fatalf("next update after the restart: %+v", ack)
	}
	if p := mustPeer(t, h2.dp, dev); p.Endpoint != c2.local {
		t.Fatalf("peer at %v after the update, want %v", p.Endpoint, c2.local)
	}
}

// TestBindingsSurviveCleanStop: the final write at shutdown keeps what
// came in during the last batch.
func TestBindingsSurviveCleanStop(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := startHA(t, dir, labConfig(""), clock)
	dev := newDevice(t)
	c, eack := h.enrol("phone", dev)
	c.register(dev)
	for seq := uint16(1); seq <= 5; seq++ {
		if ack := c.bind(seq); ack.Status != binding.StatusAccepted {
			t.Fatalf("binding ack %+v", ack)
		}
	}
	h.stop()
	h2 := startHA(t, dir, labConfig(""), clock)
	b, ok := h2.srv.cache.Lookup(eack.DeviceID)
	if !ok || b.Sequence != 5 || b.Primary != c.local {
		t.Fatalf("binding after a clean restart %+v (%v), want sequence 5 at %v", b, ok, c.local)
	}
	mustPeer(t, h2.dp, dev)
}

// TestKeptBindingsDropped: a binding whose device was revoked or enrolled
// again, or that expired while the home agent was down, is not restored,
// and the next write leaves it out.
func TestKeptBindingsDropped(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := startHA(t, dir, labConfig(""), clock)
	revoked, expired := newDevice(t), newDevice(t)
	c1, a1 := h.enrol("revoked", revoked)
	c1.register(revoked)
	c1.bind(1)
	c2, a2 := h.enrol("expired", expired)
	c2.register(expired)
	c2.bind(1)
	waitKept(t, dir, a1.DeviceID, 1)
	crashed := waitKept(t, dir, a2.DeviceID, 1)
	h.stop()
	if err := os.WriteFile(filepath.Join(dir, BindingsFile), crashed, 0o600); err != nil {
		t.Fatal(err)
	}
	// Revoke while the home agent is down: through the store directly.
	h = startHA(t, dir, labConfig(""), clock)
	if _, err := h.admin.RevokeDevice("revoked"); err != nil {
		t.Fatal(err)
	}
	h.stop()
	if err := os.WriteFile(filepath.Join(dir, BindingsFile), crashed, 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Advance(31 * time.Second) // both lifetimes are 30 s
	clock2 := &fakeClock{now: clock.Now()}
	h = startHA(t, dir, labConfig(""), clock2)
	if _, ok := h.dp.Peer(revoked.wg.PublicKey()); ok {
		t.Error("revoked device got its peer back")
	}
	if _, ok := h.dp.Peer(expired.wg.PublicKey()); ok {
		t.Error("expired binding got its peer back")
	}
	if h.srv.cache.Len() != 0 {
		t.Errorf("%d bindings restored, want 0", h.srv.cache.Len())
	}
	h.stop()
	data, err := os.ReadFile(filepath.Join(dir, BindingsFile))
	if err != nil {
		t.Fatal(err)
	}
	if ks, err := decodeBindings(data); err != nil || len(ks) != 0 {
		t.Fatalf("bindings file after the restart holds %d records (%v), want none", len(ks), err)
	}
}

// TestBindingsFileRefused: a damaged file or one of a newer format stops
// nothing: the home agent starts without bindings, logs why, and moves
// the file aside untouched.
func TestBindingsFileRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"garbage", []byte("not a bindings file at all"), ErrBindingsCorrupt},
		{"newer", append([]byte(bindingsMagic), bindingsVersion+1, 0, 0, 0, 0), ErrBindingsVersion},
		{"flipped", func() []byte {
			b := encodeBindings([]keptBinding{sampleKept()})
			b[20] ^= 0x40
			return b
		}(), ErrBindingsCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeBindings(tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("decodeBindings: %v, want %v", err, tc.want)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, BindingsFile)
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			h := startHA(t, dir, labConfig(""), nil)
			if h.srv.cache.Len() != 0 {
				t.Fatalf("%d bindings from a refused file", h.srv.cache.Len())
			}
			aside, err := os.ReadFile(path + ".refused")
			if err != nil || !bytes.Equal(aside, tc.data) {
				t.Fatalf("refused file not moved aside intact: %v", err)
			}
		})
	}
}
