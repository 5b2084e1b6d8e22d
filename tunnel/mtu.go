package tunnel

import "fmt"

// WireGuardOverhead is what WireGuard adds to an inner packet inside the
// UDP payload: the 16-byte data message header and the 16-byte
// authentication tag (before padding to 16 bytes, which the kernel-facing
// MTU already leaves room for).
const WireGuardOverhead = 32

// MinPeerMTU is the smallest per-peer path MTU SetPeerMTU accepts: the
// IPv4 minimum reassembly size. An inner IPv6 packet always needs 1280.
const MinPeerMTU = 576

// InnerMTU returns the largest inner IP packet that fits a UDP payload of
// udpPayload bytes on the outer path.
func InnerMTU(udpPayload int) int { return udpPayload - WireGuardOverhead }

// checkPeerMTU reports whether mtu is usable as a per-peer limit on an
// interface of MTU ifMTU: 0 (no limit of its own) or in [MinPeerMTU, ifMTU].
func checkPeerMTU(mtu, ifMTU int) error {
	if mtu != 0 && (mtu < MinPeerMTU || mtu > ifMTU) {
		return fmt.Errorf("path MTU %d out of range [%d, %d]: %w", mtu, MinPeerMTU, ifMTU, ErrInvalidPeer)
	}
	return nil
}
