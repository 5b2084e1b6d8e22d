package client

import (
	"slices"

	"github.com/homeip/homeip/tunnel"
)

// keepaliveSender is implemented by data planes that can send a peer a
// WireGuard keepalive on demand (tunnel.Device).
type keepaliveSender interface {
	SendKeepalive(pub tunnel.Key) error
}

// moveKeepalives is how many WireGuard keepalives the node sends the home
// agent right after it rebinds to a new path. One is enough to move the
// home agent's peer; the second keeps a lossy access network (1 % each
// way on a busy cellular link) from costing the binding update's extra
// round trip.
const moveKeepalives = 2

// announceOnMove decides whether a handover announces the move to the
// home agent's data plane ahead of the binding update (announceMove):
// only when the path the node leaves is gone: prev is no longer among the
// usable links with the same addresses and gateways, or hadPrev is false
// (there was no previous link, or the node fails over from a path it
// found dead, whose link may still look usable). While the old path
// still works, the home agent keeps sending there until the binding
// update has been accepted (make-before-break): that update also carries
// the new path's MTU, and downlink packets sent on the new path before it
// could be too large for it.
func announceOnMove(prev Link, hadPrev bool, usable []Link) bool {
	if !hadPrev {
		return true
	}
	return !slices.ContainsFunc(usable, func(l Link) bool { return sameLinkPath(prev, l) })
}

// announceMove sends the home agent's WireGuard peer keepalives over the
// path the node has just rebound to, before the control connection on it
// exists. They are authenticated datagrams, so the home agent's WireGuard
// points the device's peer at their source (the new care-of address, as
// its NAT maps it) half a round trip after the move, and downlink traffic
// follows the node while the new QUIC connection still handshakes; the
// binding update that follows one round trip later names the same
// address and retires the one the device left, so late datagrams from
// the old path cannot pull the peer back. A data plane that cannot send
// keepalives, or a node without a configured home agent peer, leaves the
// re-point to the binding update.
func (r *runner) announceMove() {
	ks, ok := r.dp.(keepaliveSender)
	if !ok || r.peerKey.IsZero() {
		return
	}
	for range moveKeepalives {
		if err := ks.SendKeepalive(r.peerKey); err != nil {
			r.log.Warn("announcing the move to the home agent's peer", "err", err)
			return
		}
	}
	r.log.Debug("move announced to the home agent's peer", "keepalives", moveKeepalives, "link", r.primary.Name)
}
