package homeagent

import (
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
)

// TestRateLimitEveryMessage: a device's budget (burst 4 here; the fake
// clock never refills it) covers registrations, binding updates,
// deregistrations and heartbeats alike, and a deregistration does not give
// it a fresh bucket.
func TestRateLimitEveryMessage(t *testing.T) {
	cfg := labConfig("")
	cfg.UpdateRate = 2 // burst 4
	h := startHA(t, t.TempDir(), cfg, nil)
	dev := newDevice(t)
	c, _ := h.enrol("chatty", dev)
	if a := c.register(dev); a.Status != binding.StatusAccepted {
		t.Fatalf("register %+v", a)
	}
	for seq := uint16(1); seq <= 2; seq++ {
		if a := c.bind(seq); a.Status != binding.StatusAccepted {
			t.Fatalf("seq %d: %+v", seq, a)
		}
	}
	c.send(&binding.Deregister{Status: binding.StatusAccepted})
	if a := recvAs[*binding.BindingAck](c); a.Status != binding.StatusAccepted {
		t.Fatalf("deregister %+v", a)
	}
	// The budget is spent: the deregistration did not refill it.
	if a := c.bind(3); a.Status != binding.StatusRateLimited {
		t.Fatalf("update after deregistration: %+v", a)
	}
	if a := c.register(dev); a.Status != binding.StatusRateLimited {
		t.Fatalf("register over the limit: %+v", a)
	}
	// A heartbeat over the limit gets no echo: the next answer is the
	// deregistration's that follows it, refused too.
	c.send(&binding.Heartbeat{Nonce: 1})
	c.send(&binding.Deregister{Status: binding.StatusAccepted})
	if a := recvAs[*binding.BindingAck](c); a.Status != binding.StatusRateLimited {
		t.Fatalf("deregister over the limit: %+v", a)
	}
	h.clock.Advance(time.Second)
	if a := c.register(dev); a.Status != binding.StatusAccepted {
		t.Fatalf("register after refill: %+v", a)
	}
}
