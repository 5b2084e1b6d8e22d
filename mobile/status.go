package mobile

import (
	"encoding/json"

	"github.com/homeip/homeip/client"
)

// Status is a snapshot of a running node, for apps that prefer fields to
// the JSON of Node.Status. Addresses are strings (empty when unknown).
type Status struct {
	// State is one of "starting", "no-link", "connecting", "registered",
	// "moving", "reconnecting", "stopping", "stopped".
	State      string
	DeviceID   string
	DeviceName string
	VIP4, VIP6 string
	// Interface and InterfaceKind name the network the tunnel runs over;
	// Standby the second one registered as a standby path.
	Interface     string
	InterfaceKind string
	Standby       string
	// CareOf is the address the home agent sees (after NAT); HomeAgent
	// the control address in use.
	CareOf    string
	HomeAgent string
	// RTTMs is the control path's smoothed round-trip time.
	RTTMs float64
	// KeepaliveS is the keepalive interval in use.
	KeepaliveS float64
	// Handovers counts completed path changes; LastHandoverMs is how long
	// the last one took.
	Handovers      int
	LastHandoverMs float64
	Reconnects     int
	// LastError is the last control-plane error, or why the node stopped.
	LastError string
}

func addrString[T interface {
	IsValid() bool
	String() string
}](a T) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func statusFrom(s client.Status) *Status {
	return &Status{
		State: s.State, DeviceID: s.DeviceID, DeviceName: s.DeviceName,
		VIP4: addrString(s.VIP4), VIP6: addrString(s.VIP6),
		Interface: s.Interface, InterfaceKind: s.InterfaceKind, Standby: s.Standby,
		CareOf: addrString(s.CareOf), HomeAgent: addrString(s.HomeAgent),
		RTTMs: s.RTTms, KeepaliveS: s.KeepaliveS,
		Handovers: s.Handovers, LastHandoverMs: s.LastHandoverMs, Reconnects: s.Reconnects,
		LastError: s.LastError,
	}
}

// statusJSON is the JSON of a client.Status: the same object
// `mnode status --json` prints.
func statusJSON(s client.Status) string {
	b, err := json.Marshal(s)
	if err != nil {
		return "{}"
	}
	return string(b)
}
