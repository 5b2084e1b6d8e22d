package client

import (
	"net/netip"
	"time"
)

// Status is a running node's view of itself, as `mnode status` shows it.
// JSON field names are part of the CLI contract.
type Status struct {
	// State is one of "starting", "no-link", "connecting", "registered",
	// "moving" (a handover is under way), "reconnecting", "stopping".
	State      string `json:"state"`
	DeviceID   string `json:"device_id"`
	DeviceName string `json:"device_name,omitempty"`
	// VIP4 and VIP6 are the device's virtual addresses.
	VIP4 netip.Addr `json:"vip4"`
	VIP6 netip.Addr `json:"vip6"`
	// TunnelInterface is the TUN interface.
	TunnelInterface string `json:"tunnel_interface"`
	// HomeAgent is the control address in use.
	HomeAgent netip.AddrPort `json:"home_agent"`
	// CareOf is the care-of address the home agent observed (after NAT).
	CareOf netip.AddrPort `json:"care_of"`
	// Local is the local address the node sends from on its primary link.
	Local netip.Addr `json:"local"`
	// Interface and InterfaceKind name the primary physical link.
	Interface     string `json:"interface"`
	InterfaceKind string `json:"interface_kind"`
	// Standby is the interface registered as the standby care-of entry.
	Standby string `json:"standby,omitempty"`
	// RTTms is the smoothed control-path round-trip time.
	RTTms float64 `json:"rtt_ms"`
	// PathMTU is the largest inner packet the node sends to the home agent
	// on its current path (the tunnel interface's MTU when the path has no
	// smaller limit); PathMTUSource says where it came from: "interface"
	// (the access interface's bound), "remembered" (this network's last
	// search) or "discovered" (QUIC's path MTU discovery on the current
	// connection). See PathMTU.
	PathMTU       int    `json:"path_mtu,omitempty"`
	PathMTUSource string `json:"path_mtu_source,omitempty"`
	// KeepaliveS is the keepalive interval in use; KeepaliveLearned says
	// whether the NAT timeout search has converged.
	KeepaliveS       float64 `json:"keepalive_s"`
	KeepaliveLearned bool    `json:"keepalive_learned"`
	// Handovers counts path changes completed since start.
	Handovers int `json:"handovers"`
	// LastHandoverMs is how long the last handover took: from detecting
	// the change to the home agent's acknowledgement.
	LastHandoverMs     float64   `json:"last_handover_ms"`
	LastHandoverAt     time.Time `json:"last_handover_at,omitzero"`
	LastHandoverReason string    `json:"last_handover_reason,omitempty"`
	// Seq is the sequence number of the last binding update.
	Seq uint16 `json:"seq"`
	// LifetimeS is the granted binding lifetime.
	LifetimeS float64 `json:"lifetime_s"`
	// StallProbes counts probes of the path sent because its traffic
	// stalled; StallFalseAlarms counts those the home agent answered (the
	// path was only idle).
	StallProbes      int `json:"stall_probes"`
	StallFalseAlarms int `json:"stall_false_alarms"`
	// NATRebinds counts the times the home agent saw this node's packets
	// arrive from a new public address on the same path (the NAT forgot
	// its mapping), noticed by a stall probe or a keepalive.
	NATRebinds int `json:"nat_rebinds"`
	// Reconnects counts control connections re-established after a loss.
	Reconnects int `json:"reconnects"`
	// LastError is the last control-plane error, if any.
	LastError string `json:"last_error,omitempty"`
	// Since is when the node started.
	Since time.Time `json:"since"`
}
