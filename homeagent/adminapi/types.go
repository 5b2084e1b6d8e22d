// Package adminapi is the home agent's local admin API: JSON over HTTP on a
// Unix socket that only root can open (the socket is created with mode 0600
// inside a directory the home agent owns). The daemon serves it with
// NewHandler over a Backend (the home agent); `ha` subcommands call it with
// Client.
//
// # Endpoints
//
//	POST /v1/devices                  {"name"}          → AddDeviceResult
//	GET  /v1/devices                                    → []Device
//	GET  /v1/devices/{name}                             → Device
//	POST /v1/devices/{name}/token                       → AddDeviceResult
//	GET  /v1/devices/{name}/tokens                      → []TokenInfo
//	DELETE /v1/devices/{name}/tokens                    → CancelTokensResult
//	POST /v1/devices/{name}/revoke                      → Device
//	POST /v1/devices/{name}/rename    {"new_name"}      → Device
//	POST /v1/devices/{name}/reserve   {"addr"}          → Device
//	POST /v1/devices/{name}/export                      → Export
//	GET  /v1/bindings                                   → []Binding
//	GET  /v1/pool                                       → []PoolPrefix
//	POST /v1/drain                                      → DrainResult
//
// Errors are {"error": "..."} with 400 (bad request), 404 (no such device),
// 409 (conflict: name taken, address in use, revoked) or 500.
package adminapi

import (
	"errors"
	"net/netip"
	"time"
)

// Sentinel errors a Backend wraps so the API answers with the right HTTP
// status; the client returns them again (errors.Is works across the socket).
var (
	ErrNotFound = errors.New("adminapi: not found")
	ErrConflict = errors.New("adminapi: conflict")
	ErrInvalid  = errors.New("adminapi: invalid request")
)

// Device is a device as the admin sees it.
type Device struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	State    string       `json:"state"` // pending, enrolled, revoked
	VIP4     netip.Addr   `json:"vip4,omitzero"`
	VIP6     netip.Addr   `json:"vip6,omitzero"`
	Reserved []netip.Addr `json:"reserved,omitempty"`
	WGKey    string       `json:"wg_key,omitempty"`
	Created  time.Time    `json:"created"`
	Enrolled time.Time    `json:"enrolled,omitzero"`
	Revoked  time.Time    `json:"revoked,omitzero"`
	// Connected reports a live control connection; Bound a binding.
	Connected bool `json:"connected"`
	Bound     bool `json:"bound"`
	// Static marks a device exported as a wg-quick config (no mnode).
	Static bool `json:"static,omitempty"`
}

// AddDeviceResult is the answer to POST /v1/devices.
type AddDeviceResult struct {
	Device  Device    `json:"device"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
	// Warning, when set, is something about the token the user must
	// hear (for example: its addresses are private, so devices elsewhere
	// cannot reach the home agent).
	Warning string `json:"warning,omitempty"`
}

// DeleteResult is what DeleteDevice removed: the device as it was, and its
// addresses, unusable by anyone until Until (the quarantine).
type DeleteResult struct {
	Device      Device       `json:"device"`
	Quarantined []netip.Addr `json:"quarantined,omitempty"`
	Until       time.Time    `json:"until,omitzero"`
}

// TokenInfo is one enrolment token of a device as the admin sees it: its
// secret is never stored, so never shown.
type TokenInfo struct {
	// ID is the first 8 bytes of the secret's SHA-256 in hex, to tell
	// tokens apart.
	ID      string    `json:"id"`
	State   string    `json:"state"` // valid, expired, used
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Used    time.Time `json:"used,omitzero"`
}

// CancelTokensResult says how many unredeemed tokens were cancelled.
type CancelTokensResult struct {
	Cancelled int `json:"cancelled"`
}

// CareOf is one care-of entry of a binding.
type CareOf struct {
	BID      uint16         `json:"bid"`
	Kind     string         `json:"kind"`
	Priority uint8          `json:"priority"`
	Observed netip.AddrPort `json:"observed,omitzero"`
	Local    netip.AddrPort `json:"local,omitzero"`
	Primary  bool           `json:"primary"`
}

// Binding is one device's binding.
type Binding struct {
	Device       string         `json:"device"`
	VIP4         netip.Addr     `json:"vip4,omitzero"`
	VIP6         netip.Addr     `json:"vip6,omitzero"`
	Primary      netip.AddrPort `json:"primary,omitzero"`
	Sequence     uint16         `json:"sequence"`
	Expires      time.Time      `json:"expires"`
	Since        time.Time      `json:"since,omitzero"`         // first bound
	LastHandover time.Time      `json:"last_handover,omitzero"` // last primary change
	CareOf       []CareOf       `json:"care_of"`
	// PathMTU is the largest inner packet sent to the device on its
	// primary path: the limit found by QUIC's path MTU discovery toward
	// it, or the WireGuard interface's MTU. PathMTUState is "interface"
	// (no result on this path yet), "searching" (PathMTUConfirmed is a
	// lower bound found so far) or "discovered".
	PathMTU          int    `json:"path_mtu"`
	PathMTUState     string `json:"path_mtu_state"`
	PathMTUConfirmed int    `json:"path_mtu_confirmed,omitempty"`
	// LastHandshake and byte counters come from the data plane.
	LastHandshake time.Time `json:"last_handshake,omitzero"`
	RxBytes       uint64    `json:"rx_bytes"`
	TxBytes       uint64    `json:"tx_bytes"`
}

// PoolPrefix is the utilisation of one prefix.
type PoolPrefix struct {
	Prefix      netip.Prefix `json:"prefix"`
	Capacity    uint64       `json:"capacity"`
	Leased      uint64       `json:"leased"`
	Reserved    uint64       `json:"reserved"`
	Quarantined uint64       `json:"quarantined"`
}

// Export is a device's standard WireGuard configuration.
type Export struct {
	Device Device `json:"device"`
	Config string `json:"config"` // wg-quick format
}

// DrainResult says how many devices were asked to switch.
type DrainResult struct {
	Switched int    `json:"switched"`
	Target   string `json:"target,omitempty"`
}

// Backend is what the API needs from the home agent. Errors wrap
// ErrNotFound, ErrConflict or ErrInvalid where those apply.
type Backend interface {
	AddDevice(name string) (AddDeviceResult, error)
	// NewToken issues another enrolment token for an existing device
	// (re-enrolment: a new phone keeps the device's VIPs).
	NewToken(name string) (AddDeviceResult, error)
	// Tokens lists a device's enrolment tokens; CancelTokens removes the
	// unredeemed ones. Enrolment and export end every other token of the
	// device by themselves.
	Tokens(name string) ([]TokenInfo, error)
	CancelTokens(name string) (CancelTokensResult, error)
	Devices() ([]Device, error)
	Device(name string) (Device, error)
	RevokeDevice(name string) (Device, error)
	RenameDevice(name, newName string) (Device, error)
	ReserveAddr(name string, addr netip.Addr) (Device, error)
	// UnreserveAddr removes a device's reservation of addr; the device
	// keeps the address as an ordinary lease.
	UnreserveAddr(name string, addr netip.Addr) (Device, error)
	// DeleteDevice removes a device for good: cut off as by a revocation,
	// its record, keys, tokens and reservations gone, its addresses in
	// quarantine until DeleteResult.Until and free after that.
	DeleteDevice(name string) (DeleteResult, error)
	ExportDevice(name string) (Export, error)
	Bindings() ([]Binding, error)
	Pool() ([]PoolPrefix, error)
	Drain() (DrainResult, error)
}
