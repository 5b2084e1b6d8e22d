package homeagent

import (
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
)

// heartbeat sends a heartbeat and returns its acknowledgement.
func (c *testConn) heartbeat(nonce uint64) *binding.HeartbeatAck {
	c.t.Helper()
	c.send(&binding.Heartbeat{Nonce: nonce, Time: time.Now().UnixNano()})
	for {
		ack := recvAs[*binding.HeartbeatAck](c)
		if ack.Nonce == nonce {
			return ack
		}
	}
}

// TestNATRebinding: the NAT in front of a bound device forgets its
// mapping. The device's next heartbeat comes from a new address; the
// home agent must report that address in the acknowledgement (not the
// dead one quic-go still sends to until it has validated the new path)
// and re-point the WireGuard peer at once, before any binding update;
// the binding update that follows moves the binding there.
func TestNATRebinding(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	dev := newDevice(t)
	c0, _ := h.enrol("phone", dev)
	c0.close()
	nat := newFakeNAT(t, h.addr, 0)
	c := h.dialVia(dev, nat)
	if ra := c.register(dev); !ra.Status.OK() {
		t.Fatalf("register: %+v", ra)
	}
	first := nat.mapping()
	if ba := c.bind(1); !ba.Status.OK() || ba.Observed != first {
		t.Fatalf("bind: %+v, want accepted from %v", ba, first)
	}
	if ack := c.heartbeat(1); ack.Observed != first {
		t.Fatalf("heartbeat observed %v before the flush, want %v", ack.Observed, first)
	}

	nat.flush()
	ack := c.heartbeat(2)
	second := nat.mapping()
	if !second.IsValid() || second == first {
		t.Fatalf("the fake NAT did not open a new mapping (%v, was %v)", second, first)
	}
	if ack.Observed != second {
		t.Fatalf("heartbeat after the flush: observed %v, want the new mapping %v", ack.Observed, second)
	}
	if p := mustPeer(t, h.dp, dev); p.Endpoint != second {
		t.Fatalf("peer endpoint %v after the heartbeat, want the new mapping %v", p.Endpoint, second)
	}

	// The device sees the new address in the ack and updates its binding.
	if ba := c.bind(2); !ba.Status.OK() || ba.Observed != second {
		t.Fatalf("bind after the flush: %+v, want accepted from %v", ba, second)
	}
	bs, err := h.admin.Bindings()
	if err != nil || len(bs) != 1 || bs[0].Primary != second {
		t.Fatalf("bindings %+v (%v), want primary %v", bs, err, second)
	}
	if p := mustPeer(t, h.dp, dev); p.Endpoint != second {
		t.Fatalf("peer endpoint %v after the update, want %v", p.Endpoint, second)
	}
}
