package tunnel

import (
	"fmt"
	"net"

	"golang.zx2c4.com/wireguard/device"
)

// SendKeepalive sends the peer one WireGuard keepalive at once, to its
// current endpoint by the current route (a handshake initiation instead
// when the peer has no valid session key). Either is an authenticated
// datagram, so the other side's WireGuard points its peer at the address
// it came from: a mobile node that has just moved calls it after Rebind,
// and the home agent follows it after half a round trip, without waiting
// for the binding update. ErrUnknownPeer if there is no such peer.
func (d *Device) SendKeepalive(pub Key) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("tunnel: send keepalive: %w", net.ErrClosed)
	}
	peer := d.wg.LookupPeer(device.NoisePublicKey(pub))
	if peer == nil {
		return fmt.Errorf("tunnel: send keepalive to %s: %w", pub, ErrUnknownPeer)
	}
	peer.SendKeepalive()
	return nil
}
