package homeagent

import (
	"context"
	"crypto/rand"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/homeagent/adminapi"
	"github.com/homeip/homeip/tunnel/tunneltest"
)

func TestEnrolRegisterBindMoveExpire(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	dev := newDevice(t)
	c, eack := h.enrol("laptop", dev)
	if eack.Status != binding.StatusAccepted || eack.DeviceName != "laptop" || eack.DeviceID == "" {
		t.Fatalf("enrol ack %+v", eack)
	}

	// Register on the same connection.
	rack := c.register(dev)
	if rack.Status != binding.StatusAccepted || rack.DeviceID != eack.DeviceID {
		t.Fatalf("register ack %+v", rack)
	}
	if !netip.MustParsePrefix("192.0.2.128/25").Contains(rack.VIP4) || !netip.MustParsePrefix("2001:db8:100::/64").Contains(rack.VIP6) {
		t.Fatalf("VIPs %v %v", rack.VIP4, rack.VIP6)
	}
	if rack.VIP4 == h.cfg.Tunnel4 || rack.VIP6 == h.cfg.Tunnel6 {
		t.Fatal("VIP is the home agent's tunnel address")
	}
	if rack.HATunnel4 != h.cfg.Tunnel4 || rack.HATunnel6 != h.cfg.Tunnel6 || rack.HAPublicKey != h.srv.id.WGKey.PublicKey() ||
		fmtPrefixes(rack.Routes) != "[192.0.2.0/25 2001:db8:1::/64]" || rack.Lifetime != 30*time.Second || rack.Keepalive != 10*time.Second {
		t.Fatalf("register ack config %+v", rack)
	}
	p := mustPeer(t, h.dp, dev)
	want := "[" + rack.VIP4.String() + "/32 " + rack.VIP6.String() + "/128]"
	if fmtPrefixes(p.AllowedIPs) != want || p.Endpoint != c.local {
		t.Fatalf("peer %+v, want AllowedIPs %s endpoint %v", p.Peer, want, c.local)
	}

	// Bind.
	ack := c.bind(1)
	if ack.Status != binding.StatusAccepted || ack.Sequence != 1 || ack.Observed != c.local || ack.Lifetime != 30*time.Second {
		t.Fatalf("binding ack %+v", ack)
	}
	bs, err := h.admin.Bindings()
	if err != nil || len(bs) != 1 || bs[0].Device != "laptop" || bs[0].Primary != c.local {
		t.Fatalf("bindings %+v %v", bs, err)
	}

	// Move: a new connection from a new address:port, as quic-go's mobile
	// node does after a move. The endpoint must be re-pointed by the time
	// the ack arrives, and the old connection closed.
	c2 := h.dial(dev)
	if r := c2.register(dev); r.Status != binding.StatusAccepted || r.VIP4 != rack.VIP4 || r.VIP6 != rack.VIP6 {
		t.Fatalf("re-register %+v", r)
	}
	ack = c2.bind(2)
	if ack.Status != binding.StatusAccepted || ack.Observed != c2.local {
		t.Fatalf("ack after move %+v", ack)
	}
	if p := mustPeer(t, h.dp, dev); p.Endpoint != c2.local {
		t.Fatalf("endpoint %v after the ack, want %v", p.Endpoint, c2.local)
	}
	c.expectClosed()
	if h.srv.m.handover.Count() != 1 {
		t.Errorf("handover observations %d, want 1", h.srv.m.handover.Count())
	}

	// Expiry retires the peer; the lease stays.
	h.clock.Advance(31 * time.Second)
	h.srv.ExpirePending()
	if _, ok := h.dp.Peer(dev.wg.PublicKey()); ok {
		t.Fatal("peer still live after expiry")
	}
	leases, err := h.st.Leases(context.Background(), eack.DeviceID)
	if err != nil || len(leases) != 2 {
		t.Fatalf("leases after expiry %v %v", leases, err)
	}
	// A binding update after expiry brings the peer back.
	if ack := c2.bind(3); ack.Status != binding.StatusAccepted {
		t.Fatalf("ack %+v", ack)
	}
	if p := mustPeer(t, h.dp, dev); p.Endpoint != c2.local {
		t.Fatalf("endpoint %v", p.Endpoint)
	}

	// Heartbeat echoes and reports the observed address.
	c2.send(&binding.Heartbeat{Nonce: 7, Time: 99})
	if hb := recvAs[*binding.HeartbeatAck](c2); hb.Nonce != 7 || hb.Time != 99 || hb.Observed != c2.local {
		t.Fatalf("heartbeat ack %+v", hb)
	}

	// Deregister drops the binding and the peer.
	c2.send(&binding.Deregister{Status: binding.StatusAccepted})
	if a := recvAs[*binding.BindingAck](c2); a.Status != binding.StatusAccepted || a.Lifetime != 0 {
		t.Fatalf("deregister ack %+v", a)
	}
	if _, ok := h.dp.Peer(dev.wg.PublicKey()); ok {
		t.Fatal("peer live after deregister")
	}
}

func TestRegisteredWithoutBindingExpires(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	dev := newDevice(t)
	c, _ := h.enrol("phone", dev)
	c.register(dev)
	mustPeer(t, h.dp, dev)
	h.clock.Advance(29 * time.Second)
	h.srv.ExpirePending()
	mustPeer(t, h.dp, dev)
	h.clock.Advance(2 * time.Second)
	h.srv.ExpirePending()
	if _, ok := h.dp.Peer(dev.wg.PublicKey()); ok {
		t.Fatal("peer of an unbound registration outlived its lifetime")
	}
}

// snapshot is what "changes nothing" compares.
type snapshot struct {
	ops     int
	devices string
}

func snap(t *testing.T, h *testHA) snapshot {
	t.Helper()
	ds, err := h.st.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.ID + d.Name + d.Enrolled.String() + d.Revoked.String() + string(d.IdentityKey) + "|")
	}
	// Path MTU discovery sets limits on its own schedule (its search
	// concludes while the subtests run): not a change a message made.
	ops := 0
	for _, op := range h.dp.Ops() {
		if op.Kind != tunneltest.OpSetPeerMTU {
			ops++
		}
	}
	return snapshot{ops: ops, devices: b.String()}
}

func TestRejections(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	dev := newDevice(t)
	c, _ := h.enrol("laptop", dev)
	c.register(dev)
	if a := c.bind(10); a.Status != binding.StatusAccepted {
		t.Fatal(a)
	}
	res, err := h.admin.AddDevice("spare")
	if err != nil {
		t.Fatal(err)
	}
	spareTok, _ := binding.ParseToken(res.Token)

	t.Run("bad token", func(t *testing.T) {
		before := snap(t, h)
		var secret [binding.SecretSize]byte
		rand.Read(secret[:])
		other := newDevice(t)
		x := h.dial(other)
		x.send(&binding.Enroll{Token: secret, WGPublicKey: other.wg.PublicKey()})
		if a := recvAs[*binding.EnrollAck](x); a.Status != binding.StatusBadToken {
			t.Fatalf("ack %+v", a)
		}
		if after := snap(t, h); after != before {
			t.Fatal("state changed")
		}
	})
	t.Run("replayed token", func(t *testing.T) {
		first := newDevice(t)
		x := h.dial(first)
		x.send(&binding.Enroll{Token: spareTok.Secret, WGPublicKey: first.wg.PublicKey()})
		if a := recvAs[*binding.EnrollAck](x); a.Status != binding.StatusAccepted {
			t.Fatalf("first redemption %+v", a)
		}
		before := snap(t, h)
		second := newDevice(t)
		y := h.dial(second)
		y.send(&binding.Enroll{Token: spareTok.Secret, WGPublicKey: second.wg.PublicKey()})
		if a := recvAs[*binding.EnrollAck](y); a.Status != binding.StatusBadToken {
			t.Fatalf("second redemption %+v", a)
		}
		if after := snap(t, h); after != before {
			t.Fatal("state changed")
		}
	})
	t.Run("expired token", func(t *testing.T) {
		res, err := h.admin.AddDevice("late")
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := binding.ParseToken(res.Token)
		h.clock.Advance(24*time.Hour + time.Second)
		defer h.clock.Advance(-(24*time.Hour + time.Second))
		before := snap(t, h)
		d := newDevice(t)
		x := h.dial(d)
		x.send(&binding.Enroll{Token: tok.Secret, WGPublicKey: d.wg.PublicKey()})
		if a := recvAs[*binding.EnrollAck](x); a.Status != binding.StatusBadToken {
			t.Fatalf("ack %+v", a)
		}
		if after := snap(t, h); after != before {
			t.Fatal("state changed")
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		before := snap(t, h)
		stranger := newDevice(t)
		x := h.dial(stranger)
		if a := x.register(stranger); a.Status != binding.StatusUnauthorized || a.VIP4.IsValid() {
			t.Fatalf("ack %+v", a)
		}
		x.expectClosed() // unauthenticated and refused: the connection ends
		// A binding update without registration.
		y := h.dial(stranger)
		if a := y.bind(1); a.Status != binding.StatusNotRegistered {
			t.Fatalf("ack %+v", a)
		}
		if after := snap(t, h); after != before {
			t.Fatal("state changed")
		}
	})
	t.Run("wrong wireguard key", func(t *testing.T) {
		before := snap(t, h)
		impostor := *dev
		impostor.wg = newDevice(t).wg
		x := h.dial(&impostor)
		if a := x.register(&impostor); a.Status != binding.StatusUnauthorized {
			t.Fatalf("ack %+v", a)
		}
		if after := snap(t, h); after != before {
			t.Fatal("state changed")
		}
	})
	t.Run("stale sequence", func(t *testing.T) {
		before := snap(t, h)
		for _, seq := range []uint16{10, 9, 10 + 32768} {
			a := c.bind(seq)
			if a.Status != binding.StatusStaleSequence || a.Sequence != 10 || a.Lifetime != 0 {
				t.Fatalf("seq %d: ack %+v", seq, a)
			}
		}
		if after := snap(t, h); after != before {
			t.Fatal("state changed")
		}
		if b, _ := h.srv.cache.Lookup(mustID(t, h, "laptop")); b.Sequence != 10 {
			t.Fatalf("cache sequence %d", b.Sequence)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		before := snap(t, h)
		// A BindingUpdate frame whose body is truncated.
		frame := []byte{binding.Version, byte(binding.TypeBindingUpdate), 0, 3, 0, 11, 0}
		if _, err := c.stream.Write(frame); err != nil {
			t.Fatal(err)
		}
		if a := recvAs[*binding.BindingAck](c); a.Status != binding.StatusMalformed {
			t.Fatalf("ack %+v", a)
		}
		// A frame of an unknown type is skipped; the stream stays usable.
		if _, err := c.stream.Write([]byte{binding.Version, 200, 0, 2, 1, 2}); err != nil {
			t.Fatal(err)
		}
		c.send(&binding.Heartbeat{Nonce: 1})
		recvAs[*binding.HeartbeatAck](c)
		if after := snap(t, h); after != before {
			t.Fatal("state changed")
		}
		// Truncated Enroll and Register frames get their malformed acks.
		x := h.dial(newDevice(t))
		if _, err := x.stream.Write([]byte{binding.Version, byte(binding.TypeEnroll), 0, 5, 1, 2, 3, 4, 5}); err != nil {
			t.Fatal(err)
		}
		if a := recvAs[*binding.EnrollAck](x); a.Status != binding.StatusMalformed {
			t.Fatalf("enroll ack %+v", a)
		}
		if _, err := x.stream.Write([]byte{binding.Version, byte(binding.TypeRegister), 0, 2, 200, 1}); err != nil {
			t.Fatal(err)
		}
		if a := recvAs[*binding.RegisterAck](x); a.Status != binding.StatusMalformed {
			t.Fatalf("register ack %+v", a)
		}
		if after := snap(t, h); after != before {
			t.Fatal("state changed")
		}
		var sb strings.Builder
		h.srv.Metrics().WriteTo(&sb)
		for _, want := range []string{`homeip_ha_binding_updates_total{status="stale_sequence"} 3`,
			`homeip_ha_binding_updates_total{status="malformed"} 1`, `homeip_ha_enrolments_total{status="bad_token"} 3`,
			`homeip_ha_registrations_total{status="unauthorized"} 2`} {
			if !strings.Contains(sb.String(), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		// Another protocol version closes the connection.
		if _, err := c.stream.Write([]byte{9, 1, 0, 0}); err != nil {
			t.Fatal(err)
		}
		c.expectClosed()
	})
}

func TestRateLimited(t *testing.T) {
	cfg := labConfig("")
	cfg.UpdateRate = 2 // burst 4; the fake clock never refills
	h := startHA(t, t.TempDir(), cfg, nil)
	dev := newDevice(t)
	c, _ := h.enrol("chatty", dev)
	c.register(dev) // counts too
	for seq := uint16(1); seq <= 3; seq++ {
		if a := c.bind(seq); a.Status != binding.StatusAccepted {
			t.Fatalf("seq %d: %+v", seq, a)
		}
	}
	before := snap(t, h)
	if a := c.bind(4); a.Status != binding.StatusRateLimited || a.Sequence != 3 {
		t.Fatalf("ack %+v", a)
	}
	if after := snap(t, h); after != before {
		t.Fatal("state changed")
	}
	h.clock.Advance(time.Second)
	if a := c.bind(4); a.Status != binding.StatusAccepted {
		t.Fatalf("after refill %+v", a)
	}
}

func mustID(t *testing.T, h *testHA, name string) string {
	t.Helper()
	d, err := h.admin.Device(name)
	if err != nil {
		t.Fatal(err)
	}
	return d.ID
}

// TestReenrol gives an enrolled device a new token: the new keys take over
// and the device keeps its VIPs.
func TestReenrol(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	oldDev := newDevice(t)
	c, _ := h.enrol("phone", oldDev)
	first := c.register(oldDev)
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
	if _, ok := h.dp.Peer(oldDev.wg.PublicKey()); ok {
		t.Fatal("old key's peer still live")
	}
	if a := x.register(newDev); a.Status != binding.StatusAccepted || a.VIP4 != first.VIP4 || a.VIP6 != first.VIP6 {
		t.Fatalf("register with new keys %+v, first %+v", a, first)
	}
	y := h.dial(oldDev)
	if a := y.register(oldDev); a.Status != binding.StatusUnauthorized {
		t.Fatalf("old key still accepted: %+v", a)
	}
}

func TestRevoke(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	dev := newDevice(t)
	c, eack := h.enrol("tablet", dev)
	rack := c.register(dev)
	c.bind(1)
	mustPeer(t, h.dp, dev)
	d, err := h.admin.RevokeDevice("tablet")
	if err != nil || d.State != "revoked" {
		t.Fatalf("revoke %+v %v", d, err)
	}
	if _, ok := h.dp.Peer(dev.wg.PublicKey()); ok {
		t.Fatal("peer live after revocation")
	}
	if m := recvAs[*binding.Deregister](c); m.Status != binding.StatusRevoked {
		t.Fatalf("deregister %+v", m)
	}
	c.expectClosed()
	x := h.dial(dev)
	if a := x.register(dev); a.Status != binding.StatusRevoked {
		t.Fatalf("register after revoke %+v", a)
	}
	// The addresses stay the device's: nobody else gets them.
	leases, _ := h.st.Leases(context.Background(), eack.DeviceID)
	if len(leases) != 2 {
		t.Fatalf("leases %v", leases)
	}
	other := newDevice(t)
	oc, _ := h.enrol("other", other)
	if a := oc.register(other); a.VIP4 == rack.VIP4 || a.VIP6 == rack.VIP6 {
		t.Fatalf("revoked device's address reassigned: %+v", a)
	}
}

func TestRestartKeepsVIPs(t *testing.T) {
	dir := t.TempDir()
	h := startHA(t, dir, labConfig(""), nil)
	dev := newDevice(t)
	c, _ := h.enrol("laptop", dev)
	first := c.register(dev)
	c.bind(1)
	fp := h.srv.Fingerprint()
	h.stop()
	ops := h.dp.Ops()
	if last := ops[len(ops)-2]; last.Kind != tunneltest.OpRemovePeer || last.Key != dev.wg.PublicKey() {
		t.Errorf("peer not removed at shutdown: %+v", ops)
	}

	h2 := startHA(t, dir, labConfig(""), nil)
	if h2.srv.Fingerprint() != fp {
		t.Fatal("fingerprint changed across a restart")
	}
	c2 := h2.dial(dev)
	again := c2.register(dev)
	if again.Status != binding.StatusAccepted || again.VIP4 != first.VIP4 || again.VIP6 != first.VIP6 {
		t.Fatalf("after restart %+v, before %+v", again, first)
	}
	// The binding was kept: its sequence number survives the restart,
	// so the old update is stale and the next one is accepted.
	if a := c2.bind(1); a.Status != binding.StatusStaleSequence || a.Sequence != 1 {
		t.Fatalf("replayed update after the restart: ack %+v, want stale at 1", a)
	}
	if a := c2.bind(2); a.Status != binding.StatusAccepted {
		t.Fatalf("ack %+v", a)
	}
}

func TestDrain(t *testing.T) {
	cfg := labConfig("")
	cfg.DrainTo = []netip.AddrPort{netip.MustParseAddrPort("198.18.0.2:51830")}
	var fp [32]byte
	fp[0] = 1
	cfg.DrainFingerprint = binding.FormatFingerprint(fp)
	h := startHA(t, t.TempDir(), cfg, nil)
	dev := newDevice(t)
	c, _ := h.enrol("laptop", dev)
	c.register(dev)
	res, err := h.admin.Drain()
	if err != nil || res.Switched != 1 {
		t.Fatalf("drain %+v %v", res, err)
	}
	sw := recvAs[*binding.Switch](c)
	if len(sw.Addrs) != 1 || sw.Addrs[0] != cfg.DrainTo[0] || sw.Fingerprint != fp || sw.Reason != binding.SwitchShutdown {
		t.Fatalf("switch %+v", sw)
	}
	select {
	case err := <-h.done:
		h.cancel = nil
		h.st.Close()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("home agent did not stop after drain")
	}
	if _, ok := h.dp.Peer(dev.wg.PublicKey()); ok {
		t.Fatal("peer left after drain")
	}
}

func TestAdminAPI(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	if _, err := h.admin.AddDevice("bad name"); !errors.Is(err, adminapi.ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := h.admin.AddDevice("cam"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.admin.AddDevice("cam"); !errors.Is(err, adminapi.ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := h.admin.Device("nope"); !errors.Is(err, adminapi.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	d, err := h.admin.RenameDevice("cam", "Camera")
	if err != nil || d.Name != "Camera" || d.State != "pending" {
		t.Fatalf("rename %+v %v", d, err)
	}
	if _, err := h.admin.Device("cam"); !errors.Is(err, adminapi.ErrNotFound) {
		t.Fatalf("old name still found: %v", err)
	}
	if d, err = h.admin.RenameDevice("camera", "camera"); err != nil || d.Name != "camera" {
		t.Fatalf("rename case %+v %v", d, err)
	}
	if _, err := h.admin.ReserveAddr("camera", netip.MustParseAddr("10.9.9.9")); !errors.Is(err, adminapi.ErrInvalid) {
		t.Fatalf("reserve outside: %v", err)
	}
	if _, err := h.admin.ReserveAddr("camera", h.cfg.Tunnel4); !errors.Is(err, adminapi.ErrInvalid) {
		t.Fatalf("reserve tunnel address: %v", err)
	}
	d, err = h.admin.ReserveAddr("camera", netip.MustParseAddr("192.0.2.200"))
	if err != nil || len(d.Reserved) != 1 {
		t.Fatalf("reserve %+v %v", d, err)
	}
	ex, err := h.admin.ExportDevice("camera")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Device.VIP4 != netip.MustParseAddr("192.0.2.200") || !strings.Contains(ex.Config, "Address = 192.0.2.200/32, 2001:db8:100:") ||
		!strings.Contains(ex.Config, "Endpoint = "+h.addr.String()) || !strings.Contains(ex.Config, "AllowedIPs = 192.0.2.129/32, 2001:db8:100::1/128, 192.0.2.0/25, 2001:db8:1::/64") {
		t.Fatalf("export:\n%s", ex.Config)
	}
	peers, _ := h.dp.Peers()
	if len(peers) != 1 || !ex.Device.Static {
		t.Fatalf("static peer not live: %v", peers)
	}
	// Another device cannot reserve the camera's address.
	if _, err := h.admin.AddDevice("tv"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.admin.ReserveAddr("tv", netip.MustParseAddr("192.0.2.200")); !errors.Is(err, adminapi.ErrConflict) {
		t.Fatalf("reserve taken: %v", err)
	}
	pool, err := h.admin.Pool()
	if err != nil || len(pool) != 2 || pool[0].Leased != 1 || pool[0].Capacity == 0 {
		t.Fatalf("pool %+v %v", pool, err)
	}
	ds, err := h.admin.Devices()
	if err != nil || len(ds) != 2 || ds[0].Name != "camera" || ds[1].Name != "tv" {
		t.Fatalf("devices %+v %v", ds, err)
	}
	var sb strings.Builder
	h.srv.Metrics().WriteTo(&sb)
	for _, want := range []string{"homeip_ha_live_peers 1", `homeip_ha_pool_leased{prefix="192.0.2.128/25"} 1`, "homeip_ha_devices 2"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, sb.String())
		}
	}
}
