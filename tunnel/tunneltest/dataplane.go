package tunneltest

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/homeip/homeip/tunnel"
)

// OpKind names a DataPlane method.
type OpKind string

// The operations a DataPlane records.
const (
	OpSetPeer     OpKind = "SetPeer"
	OpRemovePeer  OpKind = "RemovePeer"
	OpSetEndpoint OpKind = "SetEndpoint"
	OpSetPeerMTU  OpKind = "SetPeerMTU"
	OpRebind      OpKind = "Rebind"
	OpClose       OpKind = "Close"
)

// Op is one successful call recorded by DataPlane.
type Op struct {
	Kind     OpKind
	Peer     tunnel.Peer    // SetPeer: the peer as given
	Key      tunnel.Key     // RemovePeer, SetEndpoint
	Endpoint netip.AddrPort // SetEndpoint
	MTU      int            // SetPeerMTU
}

// DataPlane is an in-memory tunnel.DataPlane with the same validation and
// semantics as tunnel.Device (replace-exactly AllowedIPs, an AllowedIP
// moves to the last peer that claims it, a zero Endpoint in SetPeer keeps
// the current one, ErrUnknownPeer, net.ErrClosed after Close) and no
// packets. It records every successful call. Safe for concurrent use; the
// zero value is not ready, use New.
type DataPlane struct {
	// Fail, if set, is consulted before every call and a non-nil error is
	// returned instead of performing it (nothing changes).
	Fail func(op OpKind, pub tunnel.Key) error

	mu      sync.Mutex
	peers   map[tunnel.Key]*tunnel.PeerStatus
	ops     []Op
	rebinds int
	closed  bool

	activity chan struct{} // see Activity
}

var _ tunnel.DataPlane = (*DataPlane)(nil)

// New returns an empty DataPlane.
func New() *DataPlane {
	return &DataPlane{peers: make(map[tunnel.Key]*tunnel.PeerStatus), activity: make(chan struct{}, 1)}
}

func (d *DataPlane) checkLocked(op OpKind, pub tunnel.Key) error {
	if d.closed {
		return fmt.Errorf("tunneltest: %s: %w", op, net.ErrClosed)
	}
	if d.Fail != nil {
		if err := d.Fail(op, pub); err != nil {
			return err
		}
	}
	return nil
}

// SetPeer implements tunnel.DataPlane.
func (d *DataPlane) SetPeer(p tunnel.Peer) error {
	if err := p.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkLocked(OpSetPeer, p.PublicKey); err != nil {
		return err
	}
	allowed := make([]netip.Prefix, 0, len(p.AllowedIPs))
	for _, pfx := range p.AllowedIPs {
		pfx = pfx.Masked()
		if !slices.Contains(allowed, pfx) {
			allowed = append(allowed, pfx)
		}
	}
	// An AllowedIP belongs to one peer: the last to claim it.
	for k, other := range d.peers {
		if k == p.PublicKey {
			continue
		}
		other.AllowedIPs = slices.DeleteFunc(other.AllowedIPs, func(x netip.Prefix) bool {
			return slices.Contains(allowed, x)
		})
	}
	cur, ok := d.peers[p.PublicKey]
	if !ok {
		cur = &tunnel.PeerStatus{}
		d.peers[p.PublicKey] = cur
	}
	cur.PublicKey = p.PublicKey
	cur.AllowedIPs = allowed
	if p.Endpoint.IsValid() {
		cur.Endpoint = unmapped(p.Endpoint)
	}
	cur.PersistentKeepalive = p.PersistentKeepalive.Truncate(time.Second)
	given := p
	given.AllowedIPs = slices.Clone(p.AllowedIPs)
	d.ops = append(d.ops, Op{Kind: OpSetPeer, Peer: given, Key: p.PublicKey})
	return nil
}

// unmapped is ep as the Device lists it: an IPv4-mapped address as IPv4.
func unmapped(ep netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port())
}

// RemovePeer implements tunnel.DataPlane.
func (d *DataPlane) RemovePeer(pub tunnel.Key) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkLocked(OpRemovePeer, pub); err != nil {
		return err
	}
	if _, ok := d.peers[pub]; !ok {
		return fmt.Errorf("tunneltest: remove peer %s: %w", pub, tunnel.ErrUnknownPeer)
	}
	delete(d.peers, pub)
	d.ops = append(d.ops, Op{Kind: OpRemovePeer, Key: pub})
	return nil
}

// SetEndpoint implements tunnel.DataPlane.
func (d *DataPlane) SetEndpoint(pub tunnel.Key, ep netip.AddrPort) error {
	if err := tunnel.CheckEndpoint(ep); err != nil {
		return fmt.Errorf("tunneltest: set endpoint of %s: %w", pub, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkLocked(OpSetEndpoint, pub); err != nil {
		return err
	}
	p, ok := d.peers[pub]
	if !ok {
		return fmt.Errorf("tunneltest: set endpoint of %s: %w", pub, tunnel.ErrUnknownPeer)
	}
	p.Endpoint = unmapped(ep)
	d.ops = append(d.ops, Op{Kind: OpSetEndpoint, Key: pub, Endpoint: ep})
	return nil
}

// SetPeerMTU implements tunnel.DataPlane: it records the limit (shown in
// Peers) against an interface MTU of tunnel.DefaultMTU.
func (d *DataPlane) SetPeerMTU(pub tunnel.Key, mtu int) error {
	if mtu != 0 && (mtu < tunnel.MinPeerMTU || mtu > tunnel.DefaultMTU) {
		return fmt.Errorf("tunneltest: set path MTU of %s: %d out of range: %w", pub, mtu, tunnel.ErrInvalidPeer)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkLocked(OpSetPeerMTU, pub); err != nil {
		return err
	}
	p, ok := d.peers[pub]
	if !ok {
		return fmt.Errorf("tunneltest: set path MTU of %s: %w", pub, tunnel.ErrUnknownPeer)
	}
	p.MTU = mtu
	d.ops = append(d.ops, Op{Kind: OpSetPeerMTU, Key: pub, MTU: mtu})
	return nil
}

// Peers implements tunnel.DataPlane. The result is sorted by public key.
func (d *DataPlane) Peers() ([]tunnel.PeerStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("tunneltest: peers: %w", net.ErrClosed)
	}
	out := make([]tunnel.PeerStatus, 0, len(d.peers))
	for _, p := range d.peers {
		c := *p
		c.AllowedIPs = slices.Clone(p.AllowedIPs)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b tunnel.PeerStatus) int {
		return slices.Compare(a.PublicKey[:], b.PublicKey[:])
	})
	return out, nil
}

// Rebind implements tunnel.DataPlane; it only counts.
func (d *DataPlane) Rebind() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkLocked(OpRebind, tunnel.Key{}); err != nil {
		return err
	}
	d.rebinds++
	d.ops = append(d.ops, Op{Kind: OpRebind})
	return nil
}

// Close implements tunnel.DataPlane; idempotent.
func (d *DataPlane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	d.ops = append(d.ops, Op{Kind: OpClose})
	return nil
}

// Peer returns the configured peer pub, if any.
func (d *DataPlane) Peer(pub tunnel.Key) (tunnel.PeerStatus, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[pub]
	if !ok {
		return tunnel.PeerStatus{}, false
	}
	c := *p
	c.AllowedIPs = slices.Clone(p.AllowedIPs)
	return c, true
}

// SetStatus simulates traffic: it sets the live state of peer pub as
// Peers reports it. It reports whether the peer exists.
func (d *DataPlane) SetStatus(pub tunnel.Key, lastHandshake time.Time, rx, tx uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[pub]
	if ok {
		moved := p.RxBytes != rx || p.TxBytes != tx
		p.LastHandshake, p.RxBytes, p.TxBytes = lastHandshake, rx, tx
		if moved {
			select {
			case d.activity <- struct{}{}:
			default:
			}
		}
	}
	return ok
}

// Activity mirrors tunnel.Device.Activity: it receives a value after
// SetStatus changed a peer's byte counters (coalesced, one pending at
// most).
func (d *DataPlane) Activity() <-chan struct{} { return d.activity }

// Ops returns the successful calls so far, oldest first.
func (d *DataPlane) Ops() []Op {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ops)
}

// Rebinds is the number of successful Rebind calls.
func (d *DataPlane) Rebinds() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rebinds
}

// Closed reports whether Close was called.
func (d *DataPlane) Closed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}
