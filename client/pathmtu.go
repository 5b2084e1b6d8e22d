package client

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/homeip/homeip/tunnel"
)

// Sources of a path MTU, as Status.PathMTUSource names them.
const (
	// MTUFromInterface: the bound derived from the access interface's MTU
	// (or no limit of the path's own when the interface's MTU is unknown):
	// the optimistic start on a network not seen before.
	MTUFromInterface = "interface"
	// MTUFromMemory: what the last concluded search found on this
	// network, the start when the node comes back to it.
	MTUFromMemory = "remembered"
	// MTUFromSearch: what path MTU discovery on the current control
	// connection confirmed.
	MTUFromSearch = "discovered"
)

// quicMaxPayload is the largest UDP payload quic-go's path MTU discovery
// probes (its packet buffer size), and quicSearchResolution how close to
// the limit its search ends (it stops once the largest confirmed and the
// smallest failed or unprobed size are at most 21 bytes apart). A search
// that ended that close to quicMaxPayload hit quic-go's ceiling, not the
// path's.
const (
	quicMaxPayload       = 1452
	quicSearchResolution = 21
)

// PathMTUConfig tunes a [PathMTU]. The zero value is usable; zero fields
// take the defaults documented on each.
type PathMTUConfig struct {
	// Remember is how long a concluded search stays the starting point for
	// its network (default 1 h). After that the next connection there
	// starts from the interface's bound again and searches afresh, so a
	// path that widened is found again.
	Remember time.Duration
	// MaxNetworks bounds the networks remembered (default 32); the one
	// learned longest ago goes first.
	MaxNetworks int
}

func (c PathMTUConfig) withDefaults() PathMTUConfig {
	if c.Remember <= 0 {
		c.Remember = time.Hour
	}
	if c.MaxNetworks <= 0 {
		c.MaxNetworks = 32
	}
	return c
}

// PathMTU decides the MTU of the node's path to the home agent: the
// largest inner packet the node sends through the tunnel on its current
// network (DataPlane.SetPeerMTU of the home agent's peer). It is a pure
// state machine with the clock passed in, not safe for concurrent use.
//
// The policy, per control connection (every move opens one, so every
// care-of path gets a search of its own):
//   - Start: optimistic. A network seen within Remember starts at what
//     its last concluded search found; any other starts at the bound its
//     access interface allows (InterfaceBound), or with no limit of its
//     own when that is unknown. The remembered value never exceeds the
//     interface's bound.
//   - While QUIC's path MTU discovery (DPLPMTUD, RFC 8899) runs, each
//     confirmed size is a lower bound: it raises the MTU in use when it
//     exceeds it (the path widened since it was remembered) and never
//     lowers it.
//   - When the search concludes, its result becomes the MTU in use and is
//     remembered for the network, replacing the earlier result, lower or
//     higher. A search that reached quic-go's own ceiling says only that
//     the path carries at least that much: the interface's bound stays.
//     No result exceeds the interface's bound.
type PathMTU struct {
	cfg   PathMTUConfig
	known map[string]learnedMTU

	bound int    // interface bound of the current path (inner bytes), 0 = unknown
	cur   int    // inner MTU in use, 0 = no limit of the path's own
	src   string // where cur came from
	key   string // current network
}

type learnedMTU struct {
	inner int
	at    time.Time
}

// NewPathMTU returns a policy with cfg's defaults applied.
func NewPathMTU(cfg PathMTUConfig) *PathMTU {
	return &PathMTU{cfg: cfg.withDefaults(), known: map[string]learnedMTU{}, src: MTUFromInterface}
}

// InterfaceBound is the largest inner packet a tunnel packet to the home
// agent at ha can carry through an access interface of MTU ifaceMTU: the
// interface MTU minus the outer IP and UDP headers and WireGuard's
// overhead. 0 when the interface's MTU is unknown (0) or too small to say.
func InterfaceBound(ifaceMTU int, ha netip.Addr) int {
	if ifaceMTU <= 0 {
		return 0
	}
	hdr := 40 + 8
	if ha.Unmap().Is4() {
		hdr = 20 + 8
	}
	inner := tunnel.InnerMTU(ifaceMTU - hdr)
	if inner < tunnel.MinPeerMTU {
		return 0
	}
	return inner
}

// NetworkKey names the network a link is attached to, for remembering
// its path MTU: the interface, its default gateways and its global
// addresses. Coming back to the same Wi-Fi finds the same key; another
// Wi-Fi on the same interface does not.
func NetworkKey(l Link) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%v|%v", l.Name, l.Gateway4, l.Gateway6)
	for _, p := range l.globalAddrs() {
		fmt.Fprintf(&b, "|%v", p)
	}
	return b.String()
}

// Start begins a new control connection on network key, whose access
// interface allows inner packets of at most bound bytes (0: unknown). It
// returns the inner MTU to use now (0: no limit of the path's own) and
// where it came from.
func (p *PathMTU) Start(key string, bound int, now time.Time) (int, string) {
	p.key, p.bound = key, max(bound, 0)
	p.cur, p.src = p.bound, MTUFromInterface
	if l, ok := p.known[key]; ok {
		switch {
		case now.Sub(l.at) > p.cfg.Remember:
			delete(p.known, key)
		case p.bound == 0 || l.inner <= p.bound:
			p.cur, p.src = l.inner, MTUFromMemory
		}
	}
	return p.cur, p.src
}

// Observe records that path MTU discovery on the current connection
// confirmed UDP payloads of payload bytes, and whether its search has
// ended. It returns the inner MTU to use and whether that changed.
// Sizes below the smallest a control connection starts with
// (binding.InitialPacketSize is above it) are ignored.
func (p *PathMTU) Observe(payload int, done bool, now time.Time) (int, bool) {
	inner := tunnel.InnerMTU(payload)
	if inner < tunnel.MinPeerMTU {
		return p.cur, false
	}
	prev := p.cur
	if !done {
		if p.cur != 0 && inner > p.cur {
			p.cur, p.src = inner, MTUFromSearch
		}
		return p.cur, p.cur != prev
	}
	final := inner
	switch {
	case payload >= quicMaxPayload-quicSearchResolution:
		// The search stopped at quic-go's ceiling, not the path's: the
		// interface says how much more the path may carry (no limit of
		// the path's own when it does not say).
		final = p.bound
	case p.bound != 0 && final > p.bound:
		// More than the interface allows cannot have gone through it.
		final = p.bound
	}
	p.cur, p.src = final, MTUFromSearch
	p.remember(p.key, final, now)
	return p.cur, p.cur != prev
}

// remember records inner for key, evicting the network learned longest
// ago when full. A result with no limit of its own is remembered by
// forgetting the network: the next start is the interface's bound.
func (p *PathMTU) remember(key string, inner int, now time.Time) {
	if inner == 0 {
		delete(p.known, key)
		return
	}
	if _, ok := p.known[key]; !ok && len(p.known) >= p.cfg.MaxNetworks {
		keys := make([]string, 0, len(p.known))
		for k := range p.known {
			keys = append(keys, k)
		}
		oldest := slices.MinFunc(keys, func(a, b string) int { return p.known[a].at.Compare(p.known[b].at) })
		delete(p.known, oldest)
	}
	p.known[key] = learnedMTU{inner: inner, at: now}
}

// Current returns the inner MTU in use (0: no limit of the path's own)
// and where it came from.
func (p *PathMTU) Current() (int, string) { return p.cur, p.src }

// peerMTU turns an inner path MTU into what DataPlane.SetPeerMTU takes on
// a tunnel interface of MTU ifMTU: 0 (the interface MTU) when the path
// carries the interface's packets anyway, never below tunnel.MinPeerMTU.
func peerMTU(inner, ifMTU int) int {
	switch {
	case inner <= 0 || inner >= ifMTU:
		return 0
	case inner < tunnel.MinPeerMTU:
		return tunnel.MinPeerMTU
	}
	return inner
}
