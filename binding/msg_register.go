package binding

import (
	"net/netip"
	"time"
)

// Register opens a registration on a control connection. The device's
// identity is the ed25519 key of its TLS client certificate; the home
// agent checks it against its registry before answering.
type Register struct {
	// DeviceID is the id from EnrollAck. Optional: the home agent derives
	// the device from the TLS key and rejects a mismatch with
	// StatusUnauthorized.
	DeviceID string
	// WGPublicKey is the device's current WireGuard public key.
	WGPublicKey [32]byte
	// Lifetime is the registration lifetime the device asks for.
	Lifetime time.Duration
	// Software names the client software and version (informational).
	Software string
}

// Type implements Message.
func (*Register) Type() Type { return TypeRegister }

func (m *Register) encode(e *encoder) {
	e.str("device id", m.DeviceID)
	e.raw(m.WGPublicKey[:])
	e.seconds("lifetime", m.Lifetime)
	e.str("software", m.Software)
}

func (m *Register) decode(d *decoder) {
	d.str("device id", &m.DeviceID)
	d.key("wireguard key", &m.WGPublicKey)
	m.Lifetime = d.seconds("lifetime")
	d.str("software", &m.Software)
}

// RegisterAck answers Register with everything the device needs to bring
// its tunnel up.
type RegisterAck struct {
	// Status of the registration; on rejection the other fields are zero.
	Status Status
	// DeviceID and the device's name as the home agent knows them.
	DeviceID string
	// VIP4 and VIP6 are the device's virtual addresses (either may be the
	// zero Addr when that family is not served).
	VIP4, VIP6 netip.Addr
	// HATunnel4 and HATunnel6 are the home agent's own tunnel addresses
	// (gateway and DNS reachability inside the tunnel); zero if absent.
	HATunnel4, HATunnel6 netip.Addr
	// HAPublicKey is the home agent's WireGuard public key.
	HAPublicKey [32]byte
	// DataEndpoint is the home agent's WireGuard endpoint. Zero means the
	// address and port of the control connection (the one-port design).
	DataEndpoint netip.AddrPort
	// DNS servers to use while the tunnel is up (at most MaxAddrs).
	DNS []netip.Addr
	// SearchDomain for short names; empty for none.
	SearchDomain string
	// Routes to send through the tunnel (at most MaxRoutes, masked).
	Routes []netip.Prefix
	// Lifetime granted for the registration.
	Lifetime time.Duration
	// Keepalive is the interval the device should start with for
	// keepalives; it may adapt it to the NAT timeout it observes.
	Keepalive time.Duration
	// MTU of the tunnel interface; 0 lets the device choose.
	MTU uint16
}

// Type implements Message.
func (*RegisterAck) Type() Type { return TypeRegisterAck }

func (m *RegisterAck) encode(e *encoder) {
	e.u8(uint8(m.Status))
	e.str("device id", m.DeviceID)
	e.addr("vip4", m.VIP4)
	e.addr("vip6", m.VIP6)
	e.addr("ha tunnel4", m.HATunnel4)
	e.addr("ha tunnel6", m.HATunnel6)
	e.raw(m.HAPublicKey[:])
	e.addrPort("data endpoint", m.DataEndpoint)
	e.count("dns", len(m.DNS), MaxAddrs)
	for _, a := range m.DNS {
		if !a.IsValid() {
			e.fail("dns: zero address")
		}
		e.addr("dns", a)
	}
	e.str("search domain", m.SearchDomain)
	e.count("routes", len(m.Routes), MaxRoutes)
	for _, p := range m.Routes {
		e.prefix("route", p)
	}
	e.seconds("lifetime", m.Lifetime)
	e.seconds("keepalive", m.Keepalive)
	e.u16(m.MTU)
}

func (m *RegisterAck) decode(d *decoder) {
	m.Status = Status(d.u8("status"))
	d.str("device id", &m.DeviceID)
	m.VIP4 = d.addr("vip4")
	m.VIP6 = d.addr("vip6")
	m.HATunnel4 = d.addr("ha tunnel4")
	m.HATunnel6 = d.addr("ha tunnel6")
	d.key("ha key", &m.HAPublicKey)
	m.DataEndpoint = d.addrPort("data endpoint")
	n := d.count("dns", MaxAddrs)
	m.DNS = m.DNS[:0]
	for i := 0; i < n && d.err == nil; i++ {
		a := d.addr("dns")
		if d.err == nil && !a.IsValid() {
			d.fail("dns: zero address")
		}
		m.DNS = append(m.DNS, a)
	}
	d.str("search domain", &m.SearchDomain)
	n = d.count("routes", MaxRoutes)
	m.Routes = m.Routes[:0]
	for i := 0; i < n && d.err == nil; i++ {
		m.Routes = append(m.Routes, d.prefix("route"))
	}
	m.Lifetime = d.seconds("lifetime")
	m.Keepalive = d.seconds("keepalive")
	m.MTU = d.u16("mtu")
}

// SecretSize is the size of an enrolment token's one-time secret.
const SecretSize = 16

// Enroll redeems a one-time enrolment token. It is the first message of a
// control connection whose TLS client certificate carries the device's new
// identity key; the home agent binds that key to the device.
type Enroll struct {
	// Token is the one-time secret of the enrolment Token.
	Token [SecretSize]byte
	// WGPublicKey is the device's WireGuard public key.
	WGPublicKey [32]byte
	// Hostname is the device's own name for itself (informational).
	Hostname string
}

// Type implements Message.
func (*Enroll) Type() Type { return TypeEnroll }

func (m *Enroll) encode(e *encoder) {
	e.raw(m.Token[:])
	e.raw(m.WGPublicKey[:])
	e.str("hostname", m.Hostname)
}

func (m *Enroll) decode(d *decoder) {
	if v := d.take(SecretSize, "token"); v != nil {
		copy(m.Token[:], v)
	}
	d.key("wireguard key", &m.WGPublicKey)
	d.str("hostname", &m.Hostname)
}

// EnrollAck answers Enroll.
type EnrollAck struct {
	// Status: StatusAccepted, or e.g. StatusBadToken.
	Status Status
	// DeviceID is the stable id the home agent gave the device.
	DeviceID string
	// DeviceName is the name the administrator gave the device.
	DeviceName string
}

// Type implements Message.
func (*EnrollAck) Type() Type { return TypeEnrollAck }

func (m *EnrollAck) encode(e *encoder) {
	e.u8(uint8(m.Status))
	e.str("device id", m.DeviceID)
	e.str("device name", m.DeviceName)
}

func (m *EnrollAck) decode(d *decoder) {
	m.Status = Status(d.u8("status"))
	d.str("device id", &m.DeviceID)
	d.str("device name", &m.DeviceName)
}
