package binding

import (
	"net/netip"
	"strconv"
	"time"
)

// Deregister ends a registration. Sent by the device, it asks the home
// agent to drop the binding (answered with a BindingAck of lifetime 0);
// sent by the home agent, it tells the device its registration is over
// (Status says why, e.g. StatusRevoked) and is followed by closing the
// connection.
type Deregister struct {
	// Status is StatusAccepted for an orderly goodbye, or the reason.
	Status Status
	// Reason is an optional human-readable detail.
	Reason string
}

// Type implements Message.
func (*Deregister) Type() Type { return TypeDeregister }

func (m *Deregister) encode(e *encoder) {
	e.u8(uint8(m.Status))
	e.str("reason", m.Reason)
}

func (m *Deregister) decode(d *decoder) {
	m.Status = Status(d.u8("status"))
	d.str("reason", &m.Reason)
}

// SwitchReason says why a home agent asks a device to move (RFC 5142).
type SwitchReason uint8

// Switch reasons. Unknown values are carried unchanged.
const (
	SwitchUnspecified SwitchReason = 0
	SwitchMaintenance SwitchReason = 1
	SwitchOverload    SwitchReason = 2
	SwitchShutdown    SwitchReason = 3
)

// String returns the reason's name.
func (r SwitchReason) String() string {
	switch r {
	case SwitchUnspecified:
		return "unspecified"
	case SwitchMaintenance:
		return "maintenance"
	case SwitchOverload:
		return "overload"
	case SwitchShutdown:
		return "shutdown"
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Switch is sent by the home agent to ask the device to register with
// another home agent (RFC 5142 home agent switch), for drain or
// maintenance. The device keeps its VIPs: the new home agent serves the
// same leases.
type Switch struct {
	// Addrs are the new home agent's control addresses, best first
	// (1 to MaxAddrs).
	Addrs []netip.AddrPort
	// Fingerprint is the SHA-256 of the new home agent's certificate
	// (see Fingerprint), for the device to pin.
	Fingerprint [32]byte
	// Reason for the switch.
	Reason SwitchReason
	// Deadline is how long the device has before this home agent closes
	// the connection; 0 means no deadline announced.
	Deadline time.Duration
}

// Type implements Message.
func (*Switch) Type() Type { return TypeSwitch }

func (m *Switch) encode(e *encoder) {
	if len(m.Addrs) == 0 {
		e.fail("switch: no address")
	}
	e.count("addrs", len(m.Addrs), MaxAddrs)
	for _, a := range m.Addrs {
		if !a.IsValid() {
			e.fail("switch: zero address")
		}
		e.addrPort("addr", a)
	}
	e.raw(m.Fingerprint[:])
	e.u8(uint8(m.Reason))
	e.seconds("deadline", m.Deadline)
}

func (m *Switch) decode(d *decoder) {
	n := d.count("addrs", MaxAddrs)
	if d.err == nil && n == 0 {
		d.fail("switch: no address")
	}
	m.Addrs = m.Addrs[:0]
	for i := 0; i < n && d.err == nil; i++ {
		m.Addrs = append(m.Addrs, d.requiredAddrPort("addr"))
	}
	d.key("fingerprint", &m.Fingerprint)
	m.Reason = SwitchReason(d.u8("reason"))
	m.Deadline = d.seconds("deadline")
}

// Heartbeat is a liveness probe either side may send on the control
// stream. The peer answers with a HeartbeatAck echoing Nonce and Time, so
// the sender measures the round-trip time with its own clock.
type Heartbeat struct {
	// Nonce identifies the probe.
	Nonce uint64
	// Time is the sender's timestamp (e.g. monotonic nanoseconds); the
	// receiver only echoes it.
	Time int64
}

// Type implements Message.
func (*Heartbeat) Type() Type { return TypeHeartbeat }

func (m *Heartbeat) encode(e *encoder) {
	e.u64(m.Nonce)
	e.u64(uint64(m.Time))
}

func (m *Heartbeat) decode(d *decoder) {
	m.Nonce = d.u64("nonce")
	m.Time = int64(d.u64("time"))
}

// HeartbeatAck answers Heartbeat.
type HeartbeatAck struct {
	// Nonce and Time are echoed from the Heartbeat.
	Nonce uint64
	Time  int64
	// Observed is the address:port the answering side saw the heartbeat
	// come from (the home agent fills it in), so the device notices a NAT
	// rebinding and sends a binding update. Zero if unknown.
	Observed netip.AddrPort
}

// Type implements Message.
func (*HeartbeatAck) Type() Type { return TypeHeartbeatAck }

func (m *HeartbeatAck) encode(e *encoder) {
	e.u64(m.Nonce)
	e.u64(uint64(m.Time))
	e.addrPort("observed", m.Observed)
}

func (m *HeartbeatAck) decode(d *decoder) {
	m.Nonce = d.u64("nonce")
	m.Time = int64(d.u64("time"))
	m.Observed = d.addrPort("observed")
}
