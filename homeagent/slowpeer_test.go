package homeagent

import (
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/homeagent/config"
)

// stalledConn registers dev over a connection whose stream window is tiny
// and then stops reading: heartbeats until the home agent's writes to it
// block.
func stalledConn(t *testing.T, h *testHA, dev *testDevice) *testConn {
	t.Helper()
	c := h.dialWith(dev, &quic.Config{MaxIdleTimeout: 30 * time.Second, InitialStreamReceiveWindow: 512, MaxStreamReceiveWindow: 512})
	if a := c.register(dev); a.Status != binding.StatusAccepted {
		t.Fatalf("register %+v", a)
	}
	for i := range 200 {
		c.send(&binding.Heartbeat{Nonce: uint64(i)})
	}
	// The home agent needs a moment to fill the window and block; there is
	// nothing to wait on from here.
	time.Sleep(time.Second)
	return c
}

func slowPeerConfig() config.Config {
	cfg := labConfig("")
	cfg.UpdateRate = 1000
	return cfg
}

// TestRevokeDoesNotWaitForSlowReader: revoking a device whose connection
// stopped reading returns at once, with the peer gone, and the connection
// is closed soon after.
func TestRevokeDoesNotWaitForSlowReader(t *testing.T) {
	h := startHA(t, t.TempDir(), slowPeerConfig(), nil)
	dev := newDevice(t)
	h.enrol("slow", dev)
	c := stalledConn(t, h, dev)
	start := time.Now()
	if _, err := h.admin.RevokeDevice("slow"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("revocation took %v behind a connection that does not read", d)
	}
	if _, ok := h.dp.Peer(dev.wg.PublicKey()); ok {
		t.Fatal("peer live after revocation")
	}
	c.expectClosed()
}

// TestDrainDoesNotWaitForSlowReader: the same for a drain.
func TestDrainDoesNotWaitForSlowReader(t *testing.T) {
	h := startHA(t, t.TempDir(), slowPeerConfig(), nil)
	dev := newDevice(t)
	h.enrol("slow", dev)
	stalledConn(t, h, dev)
	start := time.Now()
	res, err := h.admin.Drain()
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("drain took %v behind a connection that does not read", d)
	}
	if res.Switched != 1 {
		t.Fatalf("drain %+v", res)
	}
}
