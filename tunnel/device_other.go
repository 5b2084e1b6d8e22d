//go:build !linux

package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ErrUnsupported is returned by New on systems without a data plane
// implementation yet.
var ErrUnsupported = errors.New("tunnel: no WireGuard data plane on this OS yet")

// Device is the WireGuard data plane; on this OS New always fails.
type Device struct{}

// New fails with ErrUnsupported on this OS.
func New(cfg Config) (*Device, error) {
	return nil, fmt.Errorf("tunnel: new: %w", ErrUnsupported)
}

// ControlConn is the QUIC side of the shared socket.
func (d *Device) ControlConn() net.PacketConn { return nil }

// LocalPort is the UDP port of the shared socket.
func (d *Device) LocalPort() uint16 { return 0 }

// InterfaceName is the name of the TUN interface.
func (d *Device) InterfaceName() string { return "" }

// DemuxStats returns the demultiplexer's counters.
func (d *Device) DemuxStats() DemuxStats { return DemuxStats{} }

// MTUStats returns the per-peer MTU filter's counters; all zero here.
func (d *Device) MTUStats() MTUStats { return MTUStats{} }

// SendStats returns the EMSGSIZE counters; all zero here.
func (d *Device) SendStats() SendStats { return SendStats{} }

// RetiredStats returns the counters of retired endpoints; all zero here.
func (d *Device) RetiredStats() RetiredStats { return RetiredStats{} }

// SetPeer implements DataPlane.
func (d *Device) SetPeer(Peer) error { return ErrUnsupported }

// RemovePeer implements DataPlane.
func (d *Device) RemovePeer(Key) error { return ErrUnsupported }

// SetEndpoint implements DataPlane.
func (d *Device) SetEndpoint(Key, netip.AddrPort) error { return ErrUnsupported }

// SetPeerMTU implements DataPlane; unsupported here.
func (d *Device) SetPeerMTU(Key, int) error { return ErrUnsupported }

// Peers implements DataPlane.
func (d *Device) Peers() ([]PeerStatus, error) { return nil, ErrUnsupported }

// Activity never receives on this platform.
func (d *Device) Activity() <-chan struct{} { return nil }

// Rebind implements DataPlane.
func (d *Device) Rebind() error { return ErrUnsupported }

// Close implements DataPlane.
func (d *Device) Close() error { return nil }
