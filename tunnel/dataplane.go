package tunnel

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Sentinel errors. Errors returned by this package wrap one of these (or
// net.ErrClosed once a data plane is closed), so callers use errors.Is.
var (
	// ErrInvalidKey reports a key that is not 32 bytes of base64.
	ErrInvalidKey = errors.New("invalid key")
	// ErrInvalidPeer reports a Peer that fails validation; nothing changed.
	ErrInvalidPeer = errors.New("invalid peer")
	// ErrUnknownPeer reports an operation on a public key that is not a
	// configured peer; nothing changed.
	ErrUnknownPeer = errors.New("unknown peer")
	// ErrInvalidConfig reports a Config that New refuses.
	ErrInvalidConfig = errors.New("invalid config")
)

// MaxPersistentKeepalive is the largest keepalive WireGuard can express
// (a 16-bit number of seconds).
const MaxPersistentKeepalive = 65535 * time.Second

// Peer is the configuration of one WireGuard peer: for the home agent a
// device, for the mobile node the home agent.
type Peer struct {
	// PublicKey identifies the peer. Required.
	PublicKey Key
	// AllowedIPs are the source addresses accepted from the peer and the
	// destinations routed to it; on the home agent exactly the device's
	// VIPs (/32 and /128). Each must be a valid prefix; SetPeer replaces
	// the peer's set exactly (an empty slice leaves it with none). Peers
	// lists each prefix once, masked.
	AllowedIPs []netip.Prefix
	// Endpoint is where the peer's packets go; the zero value means none
	// yet (the peer roams to wherever its first authenticated packet came
	// from).
	Endpoint netip.AddrPort
	// PersistentKeepalive is the interval of keepalives sent to the peer,
	// whole seconds from 0 (off) to MaxPersistentKeepalive; it is rounded
	// down to a second.
	PersistentKeepalive time.Duration
}

// Validate reports whether p can be configured. The error wraps
// ErrInvalidPeer and says which field is wrong.
func (p Peer) Validate() error {
	if p.PublicKey.IsZero() {
		return fmt.Errorf("tunnel: peer: zero public key: %w", ErrInvalidPeer)
	}
	for _, pfx := range p.AllowedIPs {
		if !pfx.IsValid() {
			return fmt.Errorf("tunnel: peer %s: invalid allowed IP %v: %w", p.PublicKey, pfx, ErrInvalidPeer)
		}
	}
	if p.Endpoint.IsValid() || p.Endpoint.Addr().IsValid() {
		if err := CheckEndpoint(p.Endpoint); err != nil {
			return fmt.Errorf("tunnel: peer %s: %w", p.PublicKey, err)
		}
	}
	if p.PersistentKeepalive < 0 || p.PersistentKeepalive > MaxPersistentKeepalive {
		return fmt.Errorf("tunnel: peer %s: persistent keepalive %v out of range [0, %v]: %w",
			p.PublicKey, p.PersistentKeepalive, MaxPersistentKeepalive, ErrInvalidPeer)
	}
	return nil
}

// CheckEndpoint reports whether ep is a usable peer endpoint: a unicast
// address with a non-zero port. The error wraps ErrInvalidPeer.
func CheckEndpoint(ep netip.AddrPort) error {
	a := ep.Addr()
	switch {
	case !ep.IsValid():
		return fmt.Errorf("invalid endpoint %v: %w", ep, ErrInvalidPeer)
	case ep.Port() == 0:
		return fmt.Errorf("endpoint %v has port 0: %w", ep, ErrInvalidPeer)
	case a.IsUnspecified() || a.IsMulticast():
		return fmt.Errorf("endpoint %v is not a unicast address: %w", ep, ErrInvalidPeer)
	}
	return nil
}

// PeerStatus is a configured peer with its live state.
type PeerStatus struct {
	Peer
	// LastHandshake is the time of the last completed handshake; zero if
	// none.
	LastHandshake time.Time
	// RxBytes and TxBytes count the peer's WireGuard traffic.
	RxBytes, TxBytes uint64
	// MTU is the per-peer path MTU set with SetPeerMTU: the largest inner
	// packet sent to the peer. 0 means the interface MTU.
	MTU int
}

// DataPlane is the seam the home agent and the mobile node use to drive
// the WireGuard data plane. *Device implements it; tunneltest.DataPlane is
// an in-memory fake. Implementations are safe for concurrent use. After
// Close every method returns an error satisfying errors.Is(err,
// net.ErrClosed), except Close itself, which is idempotent.
type DataPlane interface {
	// SetPeer adds the peer or replaces the configuration of an existing
	// peer with the same public key (its AllowedIPs are replaced exactly,
	// its handshake state is kept). An allowed prefix that another peer
	// had moves to this one, as in WireGuard. A zero Endpoint leaves the
	// current endpoint of an existing peer in place; a valid one
	// re-points the peer as SetEndpoint does, retirement included. An
	// invalid peer is refused with ErrInvalidPeer and nothing changes.
	SetPeer(p Peer) error
	// RemovePeer removes the peer at once (its keys and sessions are
	// dropped). ErrUnknownPeer if there is no such peer.
	RemovePeer(pub Key) error
	// SetEndpoint re-points the peer: the next packet to it goes to ep.
	// ErrUnknownPeer if there is no such peer, ErrInvalidPeer if ep is not
	// a unicast address with a port.
	//
	// The caller is the authority on where the peer is. Between
	// re-points the peer still roams the WireGuard way, to the source of
	// its latest authenticated datagram (a NAT that changed the peer's
	// mapping is followed at once), with one exception: the endpoint
	// that the previous SetEndpoint or SetPeer named, if it was another
	// address, is retired for RetireHold, and datagrams from it in that
	// time (sent before the peer moved and late on the path it left) are
	// received and delivered but leave the peer at ep. A later re-point
	// that names a retired address ends its retirement; removing the
	// peer ends all of its own. An address the peer roamed to by itself
	// is not retired when it is re-pointed away from it: the caller
	// never named it. Datagrams already received when SetEndpoint returns
	// may still move the peer once.
	SetEndpoint(pub Key, ep netip.AddrPort) error
	// SetPeerMTU sets the largest inner IP packet (header included) that
	// the peer's current outer path carries; 0 means the interface MTU.
	// Inner packets to the peer that do not fit are not sent: their
	// sender is told with ICMP "fragmentation needed" or ICMPv6 "packet
	// too big" carrying mtu (rounded down to a multiple of 16, the
	// padding WireGuard adds), and TCP SYNs to and from the peer have their
	// MSS clamped to fit (IPv4 packets without DF are fragmented instead,
	// and IPv6 is never held below its minimum of 1280; see the package
	// documentation). ErrUnknownPeer if there is no such peer,
	// ErrInvalidPeer if mtu is neither 0 nor in [MinPeerMTU, interface
	// MTU]. SetPeer keeps the value; a removed peer forgets it.
	SetPeerMTU(pub Key, mtu int) error
	// Peers returns every configured peer with its live state, in no
	// particular order. An endpoint given with an IPv4-mapped IPv6
	// address is listed with the IPv4 address.
	Peers() ([]PeerStatus, error)
	// Rebind re-opens the local UDP socket(s) on the same port after a
	// local link change and forgets every cached source address, so the
	// next packet leaves by the current route. The QUIC side of the shared
	// socket keeps working across it.
	Rebind() error
	// Close stops the data plane: every goroutine it started has ended,
	// the interface is removed and the port is free when it returns.
	// Idempotent.
	Close() error
}
