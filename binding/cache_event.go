package binding

import (
	"net/netip"
	"strconv"
	"time"
)

// EventKind says what changed in a device's binding.
type EventKind uint8

// Event kinds.
const (
	// EventAdded: the device has a binding again (first update, or the
	// first after expiry or removal). Endpoint is the primary care-of
	// address: materialise the WireGuard peer and point it there.
	EventAdded EventKind = iota + 1
	// EventMoved: the primary entry is the same path but its observed
	// address changed (NAT rebinding, new address on the same interface).
	// Re-point the peer's endpoint to Endpoint.
	EventMoved
	// EventPrimaryChanged: another entry became primary (e.g. Wi-Fi to
	// cellular). Re-point the peer's endpoint to Endpoint.
	EventPrimaryChanged
	// EventExpired: the binding's lifetime ran out. Retire the peer.
	EventExpired
	// EventRemoved: the binding was removed by a deregistration or by
	// Cache.Remove (revocation). Retire the peer.
	EventRemoved
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventAdded:
		return "added"
	case EventMoved:
		return "moved"
	case EventPrimaryChanged:
		return "primary changed"
	case EventExpired:
		return "expired"
	case EventRemoved:
		return "removed"
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is one change of a device's binding, for the data plane to act on.
type Event struct {
	// Kind of change.
	Kind EventKind
	// Device whose binding changed.
	Device string
	// Time of the change (the now passed to Apply, Remove or Expire).
	Time time.Time
	// Sequence of the binding after the change.
	Sequence uint16
	// PrimaryBID and Endpoint describe the primary entry after the change
	// (zero for EventExpired and EventRemoved).
	PrimaryBID uint16
	Endpoint   netip.AddrPort
	// Previous is the primary's address before the change (zero for
	// EventAdded).
	Previous netip.AddrPort
}
