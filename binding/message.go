package binding

import "strconv"

// Version is the protocol version carried in the first byte of every
// frame. A receiver rejects frames of any other version (ErrVersion).
const Version = 1

// ALPN is the TLS application protocol of the control connection.
const ALPN = "homeip/1"

// DefaultPort is the UDP port a home agent listens on by default for both
// QUIC (control) and WireGuard (data). It lies in the dynamic range
// 49152–65535, which IANA never assigns (RFC 6335 §6), so it collides with
// no registered service, and next to WireGuard's customary 51820 so that
// firewall rules and operators recognise it.
const DefaultPort = 51830

// Wire limits of list and string fields.
const (
	// MaxStringLen is the longest string field in bytes (names, reasons,
	// the search domain).
	MaxStringLen = 255
	maxString    = MaxStringLen
	// MaxCareOfEntries is the most care-of entries one BindingUpdate can
	// carry on the wire; the cache's own limit (Config.MaxCareOf) is lower.
	MaxCareOfEntries = 16
	// MaxAddrs bounds address lists: DNS servers, Switch targets, token
	// addresses.
	MaxAddrs = 8
	// MaxRoutes bounds RegisterAck.Routes.
	MaxRoutes = 255
)

// Type identifies a message on the wire (second byte of a frame).
type Type uint8

// Message types.
const (
	TypeRegister      Type = 1
	TypeRegisterAck   Type = 2
	TypeBindingUpdate Type = 3
	TypeBindingAck    Type = 4
	TypeDeregister    Type = 5
	TypeSwitch        Type = 6
	TypeEnroll        Type = 7
	TypeEnrollAck     Type = 8
	TypeHeartbeat     Type = 9
	TypeHeartbeatAck  Type = 10
)

var typeNames = [...]string{
	TypeRegister:      "Register",
	TypeRegisterAck:   "RegisterAck",
	TypeBindingUpdate: "BindingUpdate",
	TypeBindingAck:    "BindingAck",
	TypeDeregister:    "Deregister",
	TypeSwitch:        "Switch",
	TypeEnroll:        "Enroll",
	TypeEnrollAck:     "EnrollAck",
	TypeHeartbeat:     "Heartbeat",
	TypeHeartbeatAck:  "HeartbeatAck",
}

// String returns the message name, or "type(N)" for unknown types.
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Message is one control message. The set is closed: the implementations
// are the message types of this package.
type Message interface {
	// Type returns the message's wire type.
	Type() Type
	// encode appends the message body.
	encode(e *encoder)
	// decode resets the value and fills it from the body, reusing slices
	// already allocated. Bytes after the last known field are ignored.
	decode(d *decoder)
}

// New returns a new zero message of type t, or nil if t is unknown.
func New(t Type) Message {
	switch t {
	case TypeRegister:
		return new(Register)
	case TypeRegisterAck:
		return new(RegisterAck)
	case TypeBindingUpdate:
		return new(BindingUpdate)
	case TypeBindingAck:
		return new(BindingAck)
	case TypeDeregister:
		return new(Deregister)
	case TypeSwitch:
		return new(Switch)
	case TypeEnroll:
		return new(Enroll)
	case TypeEnrollAck:
		return new(EnrollAck)
	case TypeHeartbeat:
		return new(Heartbeat)
	case TypeHeartbeatAck:
		return new(HeartbeatAck)
	}
	return nil
}
