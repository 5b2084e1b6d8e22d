package tunnel

import (
	"fmt"
	"log/slog"
	"net/netip"
)

// DefaultMTU is the interface MTU when Config.MTU is zero: 1500 minus the
// IPv6 + UDP + WireGuard overhead (80 bytes), as wg-quick uses.
const DefaultMTU = 1420

// Config is what New needs to bring up a Device. The zero value of every
// optional field is useful; defaults are applied in one place (withDefaults).
type Config struct {
	// InterfaceName is the TUN interface to create (e.g. "homeip0"); at
	// most 15 bytes. Ignored when TUNFD is set. It must be unique on the
	// host, not only in its namespace: the UAPI socket
	// /var/run/wireguard/<name>.sock is in the shared filesystem.
	InterfaceName string
	// TUNFD, when > 0, is an already-open TUN file descriptor (Android
	// VpnService, iOS NetworkExtension). The Device takes ownership of it
	// and does no interface configuration (Addresses, Routes and MTU are
	// then the mobile OS's business).
	TUNFD int
	// PrivateKey is the device's WireGuard private key. Required.
	PrivateKey Key
	// ListenAddr is the UDP address of the shared WireGuard+QUIC socket.
	// An unspecified or invalid address listens on all addresses (IPv4
	// and IPv6); a specific address listens on that address only, so
	// every reply leaves from it. Port 0 picks a random port.
	ListenAddr netip.AddrPort
	// MTU of the interface; 0 means DefaultMTU.
	MTU int
	// Addresses are set on the interface (IPv4 and IPv6) through netlink.
	Addresses []netip.Prefix
	// Routes are routed into the interface through netlink.
	Routes []netip.Prefix
	// Netlink is the handle used for interface configuration; nil means a
	// new handle for the network namespace of the calling thread. On Linux
	// NetlinkHandle is netlink.Handle; elsewhere (Android, iOS) there is
	// no netlink and the field is ignored.
	Netlink *NetlinkHandle
	// SocketHook, when set, is called with every UDP socket descriptor the
	// Device opens, before it is bound (Android VpnService.protect). An
	// error fails the open.
	SocketHook func(fd int) error
	// RouteControlSource makes the control side (ControlConn) send
	// without a sticky source address, letting the routing table pick the
	// source. A mobile node sets it: it steers its path with routes, and
	// after a move the address its last packets arrived on may belong to
	// the previous link. The home agent leaves it off, so its replies
	// leave from the address the device sent to.
	RouteControlSource bool
	// AnswerIdleProbes makes the Device answer idle probes (idleprobe.go)
	// on its shared port, within IdleProbeLimits. The home agent sets it;
	// a node leaves it off and drops them.
	AnswerIdleProbes bool
	// IdleProbeLimits bound the idle probe replies; the zero value takes
	// the defaults.
	IdleProbeLimits IdleProbeLimits
	// Logger receives the Device's logs; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns c with defaults applied, or an error wrapping
// ErrInvalidConfig.
func (c Config) withDefaults() (Config, error) {
	if c.PrivateKey.IsZero() {
		return c, fmt.Errorf("tunnel: config: zero private key: %w", ErrInvalidConfig)
	}
	if c.TUNFD <= 0 {
		if c.InterfaceName == "" || len(c.InterfaceName) > 15 {
			return c, fmt.Errorf("tunnel: config: interface name %q must be 1-15 bytes: %w", c.InterfaceName, ErrInvalidConfig)
		}
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MTU < 1280 || c.MTU > 65535-80 {
		// IPv6 needs 1280; WireGuard adds at most 80 bytes of overhead.
		return c, fmt.Errorf("tunnel: config: MTU %d out of range [1280, %d]: %w", c.MTU, 65535-80, ErrInvalidConfig)
	}
	for _, p := range c.Addresses {
		if !p.IsValid() {
			return c, fmt.Errorf("tunnel: config: invalid address %v: %w", p, ErrInvalidConfig)
		}
	}
	for _, p := range c.Routes {
		if !p.IsValid() {
			return c, fmt.Errorf("tunnel: config: invalid route %v: %w", p, ErrInvalidConfig)
		}
	}
	if c.ListenAddr.Addr().Zone() != "" {
		return c, fmt.Errorf("tunnel: config: listen address %v has a zone: %w", c.ListenAddr, ErrInvalidConfig)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With("component", "tunnel")
	return c, nil
}
