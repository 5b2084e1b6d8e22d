package clienttest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
)

// session is a bare control session with the fake: a QUIC stream and a
// reader, no mobile node logic.
type session struct {
	t  *testing.T
	st *quic.Stream
	r  *binding.Reader
}

func (d *session) send(m binding.Message) {
	d.t.Helper()
	if err := binding.WriteMessage(d.st, m); err != nil {
		d.t.Fatal(err)
	}
}

func (d *session) read() binding.Message {
	d.t.Helper()
	m, err := d.r.ReadMessage()
	if err != nil {
		d.t.Fatal(err)
	}
	return m
}

// update sends a binding update asking for an ack and returns the ack.
func (d *session) update(bu *binding.BindingUpdate) *binding.BindingAck {
	d.t.Helper()
	bu.Flags |= binding.FlagAck
	d.send(bu)
	ack, ok := d.read().(*binding.BindingAck)
	if !ok {
		d.t.Fatal("answer to a binding update is not a BindingAck")
	}
	return ack
}

// enrolled starts a fake, enrols a device called phone and registers it
// on a fresh control connection.
func enrolled(t *testing.T) (*HomeAgent, *session) {
	t.Helper()
	ha, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ha.Close() })
	s, err := ha.AddDevice("phone")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := binding.ParseToken(s)
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := binding.SelfSignedCert(priv, "phone")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, ha.Addr().String(), binding.ClientTLSConfig(cert, tok.Fingerprint, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := &session{t: t, st: st, r: binding.NewReader(st, 0)}
	wg := [32]byte{7}
	d.send(&binding.Enroll{Token: tok.Secret, WGPublicKey: wg})
	ea, ok := d.read().(*binding.EnrollAck)
	if !ok || ea.Status != binding.StatusAccepted {
		t.Fatalf("enrol: %+v", ea)
	}
	d.send(&binding.Register{DeviceID: ea.DeviceID, WGPublicKey: wg, Lifetime: time.Minute})
	if ra, ok := d.read().(*binding.RegisterAck); !ok || ra.Status != binding.StatusAccepted {
		t.Fatalf("register: %+v", ra)
	}
	return ha, d
}

var (
	wifi = binding.CareOf{BID: 3, Kind: binding.KindWiFi, Priority: 1}
	cell = binding.CareOf{BID: 4, Kind: binding.KindCellular, Priority: 2}
)

// TestBindingsFollowTheCache checks that the fake decides binding updates
// as the home agent's cache does: priorities choose the primary among
// observed entries, stale numbers are refused with the current one, the
// care-of limit and the lifetime cap hold, and SetSequence, Deregister
// and Revoke act on the cache.
func TestBindingsFollowTheCache(t *testing.T) {
	ha, d := enrolled(t)

	ack := d.update(&binding.BindingUpdate{Sequence: 1, Lifetime: time.Minute, Via: wifi.BID, Entries: []binding.CareOf{wifi, cell}})
	if ack.Status != binding.StatusAccepted || !ack.Observed.IsValid() {
		t.Fatalf("first update: %+v", ack)
	}
	// Cellular has the higher priority but was never observed: Wi-Fi is
	// primary, cellular a standby entry.
	b, ok := ha.Binding("phone")
	if !ok || b.Sequence != 1 || b.Via != wifi.BID || b.PrimaryBID != wifi.BID || len(b.Entries) != 2 || b.Entries[cell.BID].Kind != binding.KindCellular || b.Updates != 1 {
		t.Fatalf("binding after first update: %+v %v", b, ok)
	}
	if ack := d.update(&binding.BindingUpdate{Sequence: 2, Lifetime: time.Minute, Via: cell.BID, Entries: []binding.CareOf{wifi, cell}}); ack.Status != binding.StatusAccepted {
		t.Fatalf("second update: %+v", ack)
	}
	if b, _ := ha.Binding("phone"); b.PrimaryBID != cell.BID || b.Via != cell.BID || b.Updates != 2 {
		t.Fatalf("binding after the update over cellular: %+v", b)
	}
	// Lower priority, seen more recently: cellular stays primary.
	d.update(&binding.BindingUpdate{Sequence: 3, Lifetime: time.Minute, Via: wifi.BID, Entries: []binding.CareOf{wifi, cell}})
	if b, _ := ha.Binding("phone"); b.PrimaryBID != cell.BID || b.Via != wifi.BID {
		t.Fatalf("binding after a refresh over Wi-Fi: %+v", b)
	}

	if ack := d.update(&binding.BindingUpdate{Sequence: 2, Lifetime: time.Minute, Via: wifi.BID, Entries: []binding.CareOf{wifi}}); ack.Status != binding.StatusStaleSequence || ack.Sequence != 3 {
		t.Fatalf("stale update: %+v", ack)
	}
	many := []binding.CareOf{wifi, cell, {BID: 5}, {BID: 6}, {BID: 7}}
	if ack := d.update(&binding.BindingUpdate{Sequence: 4, Lifetime: time.Minute, Via: wifi.BID, Entries: many}); ack.Status != binding.StatusTooManyCareOf {
		t.Fatalf("update over the care-of limit: %+v", ack)
	}
	if ack := d.update(&binding.BindingUpdate{Sequence: 4, Lifetime: 2 * time.Hour, Via: wifi.BID, Entries: []binding.CareOf{wifi, cell}}); ack.Status != binding.StatusLifetimeShortened || ack.Lifetime != time.Minute {
		t.Fatalf("update asking for more than the lifetime: %+v", ack)
	}

	ha.SetSequence("phone", 1000)
	if b, _ := ha.Binding("phone"); b.Sequence != 1000 || b.PrimaryBID != cell.BID || len(b.Entries) != 2 {
		t.Fatalf("binding after SetSequence: %+v", b)
	}
	if ack := d.update(&binding.BindingUpdate{Sequence: 5, Lifetime: time.Minute, Via: wifi.BID, Entries: []binding.CareOf{wifi, cell}}); ack.Status != binding.StatusStaleSequence || ack.Sequence != 1000 {
		t.Fatalf("update behind SetSequence: %+v", ack)
	}

	// Deregistering drops the binding; the next update starts a new one
	// from any number.
	d.send(&binding.Deregister{Status: binding.StatusAccepted})
	if ack, ok := d.read().(*binding.BindingAck); !ok || ack.Status != binding.StatusAccepted || ack.Sequence != 1000 {
		t.Fatalf("deregistration answered %+v", ack)
	}
	if _, ok := ha.Binding("phone"); ok {
		t.Fatal("binding kept after deregistration")
	}
	if ack := d.update(&binding.BindingUpdate{Sequence: 7, Lifetime: time.Minute, Via: wifi.BID, Entries: []binding.CareOf{wifi}}); ack.Status != binding.StatusAccepted {
		t.Fatalf("update after deregistration: %+v", ack)
	}
	if b, _ := ha.Binding("phone"); b.Sequence != 7 || b.Updates != 1 || len(b.Entries) != 1 {
		t.Fatalf("binding after deregistration and a new update: %+v", b)
	}

	ha.Revoke("phone")
	if _, ok := ha.Binding("phone"); ok {
		t.Fatal("binding kept after revocation")
	}
	if ack := d.update(&binding.BindingUpdate{Sequence: 1001, Lifetime: time.Minute, Via: wifi.BID, Entries: []binding.CareOf{wifi}}); ack.Status != binding.StatusRevoked {
		t.Fatalf("update of a revoked device: %+v", ack)
	}
}

// TestBindingUpdatesAreRateLimited sends a burst far above the home
// agent's default bucket (20 at once, 10 per second) back to back and
// expects some of it refused.
func TestBindingUpdatesAreRateLimited(t *testing.T) {
	_, d := enrolled(t)
	const n = 60
	for i := range n {
		d.send(&binding.BindingUpdate{Sequence: uint16(1 + i), Flags: binding.FlagAck, Lifetime: time.Minute, Via: wifi.BID, Entries: []binding.CareOf{wifi}})
	}
	limited := 0
	for range n {
		ack, ok := d.read().(*binding.BindingAck)
		if !ok {
			t.Fatal("answer to a binding update is not a BindingAck")
		}
		if ack.Status == binding.StatusRateLimited {
			limited++
		}
	}
	if limited == 0 {
		t.Fatalf("%d updates at once, none rate limited", n)
	}
}
