package homeagent

import (
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
)

// TestExportEndsEnrolmentToken: the token printed by device add no longer
// works once the device was exported as wg-quick (its keys are set).
func TestExportEndsEnrolmentToken(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	res, err := h.admin.AddDevice("router")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.admin.ExportDevice("router"); err != nil {
		t.Fatal(err)
	}
	tok, err := binding.ParseToken(res.Token)
	if err != nil {
		t.Fatal(err)
	}
	dev := newDevice(t)
	c := h.dial(dev)
	c.send(&binding.Enroll{Token: tok.Secret, WGPublicKey: dev.wg.PublicKey()})
	if a := recvAs[*binding.EnrollAck](c); a.Status != binding.StatusBadToken {
		t.Fatalf("device add's token after export: %+v", a)
	}
}

// TestEnrolmentEndsOtherTokens: of two tokens issued for a device, the
// second is dead once the first was redeemed.
func TestEnrolmentEndsOtherTokens(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	dev := newDevice(t)
	res, err := h.admin.AddDevice("phone")
	if err != nil {
		t.Fatal(err)
	}
	spare, err := h.admin.NewToken("phone")
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := binding.ParseToken(res.Token)
	c := h.dial(dev)
	c.send(&binding.Enroll{Token: tok.Secret, WGPublicKey: dev.wg.PublicKey()})
	if a := recvAs[*binding.EnrollAck](c); a.Status != binding.StatusAccepted {
		t.Fatalf("enrol %+v", a)
	}
	tok2, _ := binding.ParseToken(spare.Token)
	thief := newDevice(t)
	x := h.dial(thief)
	x.send(&binding.Enroll{Token: tok2.Secret, WGPublicKey: thief.wg.PublicKey()})
	if a := recvAs[*binding.EnrollAck](x); a.Status != binding.StatusBadToken {
		t.Fatalf("the other token after enrolment: %+v", a)
	}
}

// TestReenrolEndsOldSession: once the device is enrolled again with other
// keys, the old identity's connection is closed and refused.
func TestReenrolEndsOldSession(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	oldDev := newDevice(t)
	c, _ := h.enrol("phone", oldDev)
	c.register(oldDev)
	c.bind(1)
	res, err := h.admin.NewToken("phone")
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := binding.ParseToken(res.Token)
	newDev := newDevice(t)
	x := h.dial(newDev)
	x.send(&binding.Enroll{Token: tok.Secret, WGPublicKey: newDev.wg.PublicKey()})
	if a := recvAs[*binding.EnrollAck](x); a.Status != binding.StatusAccepted {
		t.Fatalf("re-enrol %+v", a)
	}
	// The write fails if the connection is closed already.
	werr := binding.WriteMessage(c.stream, &binding.BindingUpdate{Sequence: 2, Flags: binding.FlagAck, Lifetime: 30 * time.Second, Via: 1,
		Entries: []binding.CareOf{{BID: 1, Kind: binding.KindWiFi, Priority: 10, Local: c.local}}})
	if m, err := c.recv(); werr == nil && err == nil {
		if a, ok := m.(*binding.BindingAck); ok && a.Status.OK() {
			t.Fatalf("the old identity's session still binds: %+v", a)
		}
	}
	c.expectClosed()
	if _, ok := h.dp.Peer(oldDev.wg.PublicKey()); ok {
		t.Fatal("old key's peer live")
	}
}
