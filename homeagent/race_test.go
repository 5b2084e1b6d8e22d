package homeagent

import (
	"sync"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/tunnel"
	"github.com/homeip/homeip/tunnel/tunneltest"
)

// gatedDP is a data plane whose SetPeer and RemovePeer calls for a key can
// be held at a gate, to force one interleaving of concurrent requests.
type gatedDP struct {
	*tunneltest.DataPlane
	mu    sync.Mutex
	gates map[gateKey]*gate
}

type gateKey struct {
	op  tunneltest.OpKind
	key tunnel.Key
}

// gate holds the next call it was set for: reached is closed when the call
// arrives, and the call proceeds once release is closed.
type gate struct {
	reached, release chan struct{}
}

func newGatedDP(dp *tunneltest.DataPlane) *gatedDP {
	return &gatedDP{DataPlane: dp, gates: map[gateKey]*gate{}}
}

// hold sets a gate for the next op call for key.
func (g *gatedDP) hold(op tunneltest.OpKind, key tunnel.Key) *gate {
	gt := &gate{reached: make(chan struct{}), release: make(chan struct{})}
	g.mu.Lock()
	g.gates[gateKey{op, key}] = gt
	g.mu.Unlock()
	return gt
}

func (g *gatedDP) pass(op tunneltest.OpKind, key tunnel.Key) {
	g.mu.Lock()
	gt := g.gates[gateKey{op, key}]
	delete(g.gates, gateKey{op, key})
	g.mu.Unlock()
	if gt != nil {
		close(gt.reached)
		<-gt.release
	}
}

func (g *gatedDP) SetPeer(p tunnel.Peer) error {
	g.pass(tunneltest.OpSetPeer, p.PublicKey)
	return g.DataPlane.SetPeer(p)
}

func (g *gatedDP) RemovePeer(k tunnel.Key) error {
	g.pass(tunneltest.OpRemovePeer, k)
	return g.DataPlane.RemovePeer(k)
}

// waitFor fails the test when ch is not closed within d.
func waitFor(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s: nothing after %v", what, d)
	}
}

// recvAsync reads the connection's next message in a goroutine.
func recvAsync(c *testConn) <-chan binding.Message {
	out := make(chan binding.Message, 1)
	go func() {
		m, _ := c.recv()
		out <- m
	}()
	return out
}

// TestRegisterWhileBindingExpires registers a device again while its
// binding expires: the expiry's peer removal and the registration meet on
// the device's cache shard and on the server's lock. Neither may wait for
// the other forever, and the registration, being the later, keeps the
// peer.
func TestRegisterWhileBindingExpires(t *testing.T) {
	var gdp *gatedDP
	h := startHAWith(t, t.TempDir(), labConfig(""), nil, haSeams{dp: func(dp *tunneltest.DataPlane) tunnel.DataPlane {
		gdp = newGatedDP(dp)
		return gdp
	}})
	dev := newDevice(t)
	c, _ := h.enrol("phone", dev)
	c.register(dev)
	c.bind(1)
	key := dev.wg.PublicKey()

	// The registration is held in the data plane, between its binding
	// lookups.
	setGate := gdp.hold(tunneltest.OpSetPeer, key)
	x := h.dial(dev)
	x.send(&binding.Register{WGPublicKey: key, Lifetime: 30 * time.Second, Software: "test"})
	reply := recvAsync(x)
	waitFor(t, setGate.reached, 10*time.Second, "registration reaching the data plane")

	// The binding expires meanwhile; its peer removal is held too (if it
	// gets that far while the registration is in progress).
	h.clock.Advance(31 * time.Second)
	rmGate := gdp.hold(tunneltest.OpRemovePeer, key)
	expired := make(chan struct{})
	go func() { h.srv.ExpirePending(); close(expired) }()
	select {
	case <-rmGate.reached:
	case <-expired:
	case <-time.After(time.Second):
	}
	close(setGate.release)
	time.Sleep(100 * time.Millisecond) // the registration goes on to its second lookup
	close(rmGate.release)

	select {
	case m := <-reply:
		if a, ok := m.(*binding.RegisterAck); !ok || a.Status != binding.StatusAccepted {
			t.Fatalf("register reply %T %+v", m, m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: the registration got no answer while the binding expired")
	}
	waitFor(t, expired, 5*time.Second, "deadlock: expiry")
	mustPeer(t, h.dp, dev)
}

// TestRevokeDuringRegister revokes a device while a registration of it is
// between its revocation check and the data plane: the device must end up
// without a peer.
func TestRevokeDuringRegister(t *testing.T) {
	var gdp *gatedDP
	h := startHAWith(t, t.TempDir(), labConfig(""), nil, haSeams{dp: func(dp *tunneltest.DataPlane) tunnel.DataPlane {
		gdp = newGatedDP(dp)
		return gdp
	}})
	dev := newDevice(t)
	c, _ := h.enrol("tablet", dev)
	c.register(dev)
	key := dev.wg.PublicKey()

	setGate := gdp.hold(tunneltest.OpSetPeer, key)
	x := h.dial(dev)
	x.send(&binding.Register{WGPublicKey: key, Lifetime: 30 * time.Second, Software: "test"})
	reply := recvAsync(x)
	waitFor(t, setGate.reached, 10*time.Second, "registration reaching the data plane")

	revoked := make(chan struct{})
	go func() {
		defer close(revoked)
		if _, err := h.admin.RevokeDevice("tablet"); err != nil {
			t.Errorf("revoke: %v", err)
		}
	}()
	select {
	case <-revoked:
	case <-time.After(500 * time.Millisecond):
	}
	close(setGate.release)
	waitFor(t, revoked, 10*time.Second, "revocation")
	select {
	case m := <-reply: // an ack, the revocation's Deregister or the close
		if a, ok := m.(*binding.RegisterAck); ok && a.Status.OK() {
			t.Logf("registration accepted before the revocation: %+v", a.Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the registration got no answer")
	}
	if _, ok := h.dp.Peer(key); ok {
		t.Fatal("revoked device has a live WireGuard peer")
	}
	// Registering again is refused and adds no peer.
	y := h.dial(dev)
	if a := y.register(dev); a.Status != binding.StatusRevoked {
		t.Fatalf("register after revoke %+v", a)
	}
	if _, ok := h.dp.Peer(key); ok {
		t.Fatal("revoked device has a live WireGuard peer after registering again")
	}
}

// TestRevocationIsMonotonic puts a stale copy of a revoked device into the
// index, as a rename that read the store before a revocation would.
func TestRevocationIsMonotonic(t *testing.T) {
	x := newIndex()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dev := store.Device{ID: "d1", Name: "phone", Created: now}
	x.put(dev)
	revoked := dev
	revoked.Revoked = now.Add(time.Hour)
	x.put(revoked)
	stale := dev
	stale.Name = "renamed"
	if d := x.put(stale); d.revoked.IsZero() || d.name != "renamed" {
		t.Fatalf("after a stale put: %+v", d)
	}
	if d, _ := x.byIDCopy("d1"); !d.revoked.Equal(revoked.Revoked) {
		t.Fatalf("revocation undone: %+v", d)
	}
}
