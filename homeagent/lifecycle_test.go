package homeagent

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/homeagent/adminapi"
	"github.com/homeip/homeip/store"
)

// TestDeleteDevice: a deleted device is cut off like a revoked one, its
// record, keys and tokens are gone, and its address is nobody's until the
// quarantine is over; then the sweep's purge forgets the records.
func TestDeleteDevice(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := labConfig("")
	// Room for more devices than the test has: an exhausted pool hands
	// out the quarantined address released longest ago (pool's policy).
	cfg.Pool4 = []netip.Prefix{netip.MustParsePrefix("192.0.2.128/28")}
	cfg.Quarantine = time.Hour
	h := startHA(t, t.TempDir(), cfg, clock)
	dev := newDevice(t)
	c, eack := h.enrol("sensor", dev)
	rack := c.register(dev)
	c.bind(1)
	mustPeer(t, h.dp, dev)
	if !rack.VIP4.IsValid() {
		t.Fatalf("no IPv4 VIP: %+v", rack)
	}

	res, err := h.admin.DeleteDevice("sensor")
	if err != nil {
		t.Fatal(err)
	}
	if res.Device.Name != "sensor" || len(res.Quarantined) != 2 || !res.Until.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("delete result %+v", res)
	}
	if _, ok := h.dp.Peer(dev.wg.PublicKey()); ok {
		t.Fatal("peer live after deletion")
	}
	if m := recvAs[*binding.Deregister](c); m.Status != binding.StatusRevoked {
		t.Fatalf("deregister %+v", m)
	}
	c.expectClosed()
	if _, err := h.admin.Device("sensor"); !errors.Is(err, adminapi.ErrNotFound) {
		t.Fatalf("device after deletion: %v", err)
	}
	if _, err := h.st.Device(context.Background(), eack.DeviceID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("store record after deletion: %v", err)
	}
	if _, err := h.admin.DeleteDevice("sensor"); !errors.Is(err, adminapi.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// Its keys are refused.
	if a := h.dial(dev).register(dev); a.Status == binding.StatusAccepted {
		t.Fatalf("deleted device registered again: %+v", a)
	}
	// Quarantined: a new device does not get the address.
	other := newDevice(t)
	oc, _ := h.enrol("other", other)
	if a := oc.register(other); a.VIP4 == rack.VIP4 || a.VIP6 == rack.VIP6 {
		t.Fatalf("deleted device's address reassigned within the quarantine: %+v", a)
	}
	if n, err := h.st.Counts(context.Background()); err != nil || n.Quarantined != 2 {
		t.Fatalf("quarantine records %+v %v", n, err)
	}

	// Not yet over: the purge keeps the records.
	clock.Advance(30 * time.Minute)
	h.srv.purgeQuarantine(context.Background(), clock.Now())
	if n, err := h.st.Counts(context.Background()); err != nil || n.Quarantined != 2 {
		t.Fatalf("quarantine records purged early %+v %v", n, err)
	}
	// Over: the records go (the pool frees the addresses by itself).
	clock.Advance(31 * time.Minute)
	h.srv.purgeQuarantine(context.Background(), clock.Now())
	if n, err := h.st.Counts(context.Background()); err != nil || n.Quarantined != 0 {
		t.Fatalf("quarantine records after the purge %+v %v", n, err)
	}
	if holder, held := h.srv.pool.Holder(rack.VIP4); held {
		t.Fatalf("address held by %q after the quarantine", holder)
	}
}

// TestUnreserve: the reservation goes from the store and the pool; an
// address that is not the device's reservation is refused.
func TestUnreserve(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	if _, err := h.admin.AddDevice("camera"); err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("192.0.2.200")
	if _, err := h.admin.ReserveAddr("camera", a); err != nil {
		t.Fatal(err)
	}
	if _, err := h.admin.UnreserveAddr("camera", netip.MustParseAddr("192.0.2.201")); !errors.Is(err, adminapi.ErrNotFound) {
		t.Fatalf("unreserving an address not reserved: %v", err)
	}
	d, err := h.admin.UnreserveAddr("camera", a)
	if err != nil || len(d.Reserved) != 0 {
		t.Fatalf("unreserve: %+v %v", d, err)
	}
	if rs, err := h.st.Reservations(context.Background(), d.ID); err != nil || len(rs) != 0 {
		t.Fatalf("store reservations %v %v", rs, err)
	}
}
