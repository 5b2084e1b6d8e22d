package tunnel

import (
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/conn"
)

// RetireHold is how long an endpoint that a peer was re-pointed away from
// (SetEndpoint, or SetPeer with another Endpoint) stays retired: a
// WireGuard datagram from it in that time does not move the peer back.
// It covers what the path the device left can still deliver (a cellular
// link holds tens of milliseconds of packets, seconds when its buffers
// are bloated) and stays well below the UDP timeouts of real NATs (RFC
// 4787 asks for two minutes, carriers use 30 s and more), so the mapping
// cannot have been given to another device meanwhile.
const RetireHold = 3 * time.Second

// RetiredStats counts the work of retired endpoints.
type RetiredStats struct {
	// Retired counts endpoints retired by a re-point.
	Retired uint64
	// Held counts WireGuard datagrams that came from a retired endpoint
	// and were handed to wireguard-go with the endpoint their peer was
	// re-pointed to, so that they did not move it back.
	Held uint64
}

// Retired endpoints.
//
// wireguard-go points a peer at the source of every authenticated
// datagram (Peer.SetEndpointFromPacket), whatever told it otherwise. That
// is how plain WireGuard follows a NAT rebinding, and it must keep doing
// so; but datagrams a device sent just before it moved, still in flight
// on the path it left, arrive after the binding update re-pointed its
// peer, and each of them would point the peer back at the old path. A
// receive-only device then gets nothing and sends nothing that would
// move it forward again, until a WireGuard timer fires (15 s).
//
// So when a re-point moves a peer from endpoint A to B, the Device
// retires A for RetireHold (roamGuard, guarded by the Device's mutex) and
// publishes an immutable retiredTable to the Bind. The Bind's receive
// path hands wireguard-go, for a WireGuard datagram from a retired
// endpoint, the endpoint the peer was re-pointed to instead of a new one:
// the datagram is decrypted and delivered as before, and wireguard-go's
// roaming "moves" the peer to where it already is. A datagram from any
// other address still moves the peer. Without retired endpoints (nearly
// always) the receive path pays one atomic load per batch; with some, a
// map lookup per WireGuard datagram until the last one expires, when the
// receive path drops the table itself.

// roamGuard is the Device's record of the endpoints re-points named and
// of the endpoints they retired. It is guarded by the Device's mutex.
type roamGuard struct {
	hold time.Duration
	// bound is, per peer, the endpoint the last re-point named (with the
	// sticky source it was given): what a datagram from a retired
	// endpoint of that peer is handed to wireguard-go with.
	bound map[Key]*endpoint
	// retired maps a retired address to whose it was and until when.
	// Expired entries are pruned whenever a table is built.
	retired map[netip.AddrPort]*retirement
	count   uint64 // endpoints retired so far
}

// retirement is one retired endpoint.
type retirement struct {
	peer   Key
	until  time.Time
	logged atomic.Bool // the first datagram held for it was logged
}

func newRoamGuard(hold time.Duration) *roamGuard {
	return &roamGuard{
		hold:    hold,
		bound:   make(map[Key]*endpoint),
		retired: make(map[netip.AddrPort]*retirement),
	}
}

// repoint records that peer pub was pointed at to, and retires the
// endpoint the previous re-point named if it was another address. An
// address a re-point names is no longer retired, whoever it was retired
// for. It returns the retired address, or the zero AddrPort.
func (g *roamGuard) repoint(pub Key, to *endpoint, now time.Time) netip.AddrPort {
	prev := g.bound[pub]
	g.bound[pub] = to
	delete(g.retired, to.dst)
	if prev == nil || prev.dst == to.dst {
		return netip.AddrPort{}
	}
	g.retired[prev.dst] = &retirement{peer: pub, until: now.Add(g.hold)}
	g.count++
	return prev.dst
}

// forget drops everything about peer pub (it was removed).
func (g *roamGuard) forget(pub Key) {
	delete(g.bound, pub)
	for a, r := range g.retired {
		if r.peer == pub {
			delete(g.retired, a)
		}
	}
}

// clearSources drops the sticky sources of the bound endpoints (after a
// rebind the local addresses may have changed), as wireguard-go does for
// the endpoints it holds.
func (g *roamGuard) clearSources() {
	for pub, e := range g.bound {
		if e.source().addr.IsValid() {
			g.bound[pub] = newEndpoint(e.dst, netip.Addr{}, 0)
		}
	}
}

// table prunes the expired retirements and returns the table of the
// others for the Bind, or nil if there are none.
func (g *roamGuard) table(now time.Time) *retiredTable {
	var t *retiredTable
	for a, r := range g.retired {
		to := g.bound[r.peer]
		if !now.Before(r.until) || to == nil {
			delete(g.retired, a)
			continue
		}
		if t == nil {
			t = &retiredTable{m: make(map[netip.AddrPort]retiredEntry, len(g.retired))}
		}
		t.m[a] = retiredEntry{to: to, r: r}
		if r.until.After(t.until) {
			t.until = r.until
		}
	}
	return t
}

// retiredTable is an immutable snapshot of the retired endpoints, read by
// the receive path without a lock.
type retiredTable struct {
	m     map[netip.AddrPort]retiredEntry
	until time.Time // when the last entry expires
}

// retiredEntry is a retired address and the endpoint its peer has now.
type retiredEntry struct {
	to *endpoint
	r  *retirement
}

// hold replaces, in eps, the endpoint of every datagram whose size is not
// zero (the WireGuard datagrams of a sorted batch) and that came from an
// endpoint retired at now, by the endpoint its peer was re-pointed to. It
// logs the first datagram held for each retirement and returns how many
// it held.
func (t *retiredTable) hold(sizes []int, eps []conn.Endpoint, now time.Time, log *slog.Logger) int {
	held := 0
	var last conn.Endpoint // GRO segments share one endpoint
	var lastTo *endpoint
	for i, ep := range eps {
		if sizes[i] == 0 || ep == nil {
			continue
		}
		if ep != last {
			last, lastTo = ep, nil
			e, ok := ep.(*endpoint)
			if !ok {
				continue
			}
			re, ok := t.m[e.dst]
			if !ok || !now.Before(re.r.until) {
				continue
			}
			lastTo = re.to
			if re.r.logged.CompareAndSwap(false, true) {
				log.Debug("late datagram from a retired endpoint; the peer stays", "from", e.dst, "peer_endpoint", re.to.dst)
			}
		}
		if lastTo != nil {
			eps[i] = lastTo
			held++
		}
	}
	return held
}
