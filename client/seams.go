package client

import (
	"net"
	"net/netip"
	"sync"

	"github.com/homeip/homeip/tunnel"
)

// DataPlane is what the node needs from its data plane: the
// tunnel.DataPlane seam plus the QUIC side of the one shared UDP socket
// (tunnel.Device implements it). The node never picks an implementation;
// cmd/mnode and mobile/ hand one in through Config.NewDataPlane.
type DataPlane interface {
	tunnel.DataPlane
	// ControlConn is the QUIC side of the shared socket: datagrams that
	// are not WireGuard. The node runs a quic.Transport on it.
	ControlConn() net.PacketConn
}

// DataPlaneConfig is what the node passes to Config.NewDataPlane.
type DataPlaneConfig struct {
	// PrivateKey is the device's WireGuard key.
	PrivateKey tunnel.Key
	// ListenPort is the local UDP port (0 = random).
	ListenPort uint16
	// MTU of the tunnel interface (0 = the data plane's default).
	MTU int
}

// TunnelConfig is the configuration of the tunnel interface, derived
// from the home agent's RegisterAck.
type TunnelConfig struct {
	// Addresses are the VIPs as /32 and /128.
	Addresses []netip.Prefix
	// Routes go through the tunnel: the announced home networks, the home
	// agent's tunnel addresses, and with a full tunnel 0.0.0.0/1,
	// 128.0.0.0/1, ::/1 and 8000::/1 (more specific than any default
	// route, so the physical default routes stay and need no change).
	Routes []netip.Prefix
	// DNS servers and search domain announced by the home agent.
	DNS          []netip.Addr
	SearchDomain string
	// MTU of the interface.
	MTU int
}

// Host configures the operating system around the tunnel: the TUN's
// addresses and routes, and the host routes that keep the home agent
// reachable outside the tunnel through the chosen physical link. On
// Linux, client/netmon implements it with netlink; a mobile OS does this
// itself (pass nil).
type Host interface {
	// ConfigureTunnel sets the tunnel interface's addresses and routes,
	// replacing what an earlier call set.
	ConfigureTunnel(TunnelConfig) error
	// RouteHomeAgent routes the home agent's addresses through link (its
	// gateway and interface), outside the tunnel, replacing earlier
	// routes; this is how the node picks the link its tunnel leaves by,
	// whatever the kernel's default route metrics say. A zero Link
	// removes the routes.
	RouteHomeAgent(addrs []netip.Addr, link Link) error
	// Close removes everything the Host configured. Idempotent.
	Close() error
}

// NetWatcher reports the host's network state. The node calls State after
// every signal on Changed (signals are coalesced: one pending at most) and
// debounces bursts itself. Implementations are safe for concurrent use.
type NetWatcher interface {
	// State returns the current, normalised network state.
	State() (State, error)
	// Changed receives a value after the state may have changed.
	Changed() <-chan struct{}
}

// PushWatcher is a NetWatcher whose state is pushed in by the embedding
// application: the mobile OS tells us about network changes (Android
// ConnectivityManager, iOS NWPathMonitor) instead of netlink. The zero
// value is not ready; use NewPushWatcher.
type PushWatcher struct {
	mu sync.Mutex
	st State
	ch chan struct{}
}

// NewPushWatcher returns a PushWatcher with an empty state.
func NewPushWatcher() *PushWatcher {
	return &PushWatcher{ch: make(chan struct{}, 1)}
}

// Set replaces the state and signals the node.
func (w *PushWatcher) Set(s State) {
	s.Normalize()
	w.mu.Lock()
	w.st = s
	w.mu.Unlock()
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// State implements NetWatcher.
func (w *PushWatcher) State() (State, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st, nil
}

// Changed implements NetWatcher.
func (w *PushWatcher) Changed() <-chan struct{} { return w.ch }
