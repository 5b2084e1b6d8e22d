package homeagent

import (
	"testing"

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
