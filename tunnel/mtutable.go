package tunnel

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
)

// paddingMultiple is what wireguard-go pads every inner packet to a
// multiple of (capped at the interface MTU) before encrypting it.
const paddingMultiple = 16

// enforcedMTU is the largest inner packet that still fits a path MTU of
// mtu once wireguard-go has padded it to a multiple of 16 (capped at the
// interface MTU ifMTU): mtu rounded down to a multiple of 16, or 0 (no
// limit) when mtu is at least ifMTU. A packet of mtu bytes would be padded
// past mtu whenever mtu is not a multiple of 16 (InnerMTU(1280-28) = 1220
// is padded to 1232).
func enforcedMTU(mtu, ifMTU int) int {
	if mtu == 0 || mtu >= ifMTU {
		return 0
	}
	return mtu &^ (paddingMultiple - 1)
}

// mtuRoute is one prefix of the table with its limit; 0 means no limit (a
// more specific prefix of a peer without one, which must win over a
// limited peer's wider prefix).
type mtuRoute struct {
	pfx netip.Prefix
	mtu int
}

// mtuTable maps inner addresses to the limit of the peer they are routed
// to. It is immutable once built; the data path reads it through an
// atomic pointer and configuration replaces it (copy on write). Only
// peers with a limit and the prefixes that could shadow theirs are in it.
type mtuTable struct {
	exact map[netip.Addr]int // /32 and /128
	wide  []mtuRoute         // the rest, most specific first
	// min is the smallest limit in the table: a packet no longer than
	// this needs no lookup unless it is a TCP SYN.
	min int
}

// lookup returns the limit for destination a, 0 if none (longest match).
func (t *mtuTable) lookup(a netip.Addr) int {
	if v, ok := t.exact[a]; ok {
		return v
	}
	for i := range t.wide {
		if t.wide[i].pfx.Contains(a) {
			return t.wide[i].mtu
		}
	}
	return 0
}

// peerRoutes is what the Device keeps to build tables: every peer's
// allowed prefixes (as WireGuard holds them, each in one peer only) and
// the limits set with SetPeerMTU. It is not safe for concurrent use; the
// Device guards it with its mutex.
type peerRoutes struct {
	ifMTU   int
	allowed map[Key][]netip.Prefix
	owner   map[netip.Prefix]Key
	mtus    map[Key]int

	// What changed since cur was built, so that table can patch a copy
	// of it instead of rebuilding (a home agent with thousands of limited
	// devices): the peers whose entries may differ, the addresses to
	// drop first, and whether a prefix wider than one address was
	// involved (then it rebuilds).
	cur   *mtuTable
	dirty map[Key]struct{}
	stale []netip.Addr
	wide  bool

	// wideOwners are the peers with a prefix wider than one address;
	// contrib is the limit each peer puts in the table (0: none) and hist
	// counts peers per contributed limit, whose smallest key is the
	// table's min. They keep table's cost independent of the number of
	// peers when only a few change.
	wideOwners map[Key]struct{}
	contrib    map[Key]int
	hist       map[int]int
}

func newPeerRoutes(ifMTU int) *peerRoutes {
	return &peerRoutes{ifMTU: ifMTU, allowed: make(map[Key][]netip.Prefix), owner: make(map[netip.Prefix]Key),
		mtus: make(map[Key]int), dirty: make(map[Key]struct{}),
		wideOwners: make(map[Key]struct{}), contrib: make(map[Key]int), hist: make(map[int]int)}
}

// discard forgets the changes recorded since the last table, after a
// change that does not affect it.
func (r *peerRoutes) discard() {
	r.account()
	clear(r.dirty)
	r.stale = r.stale[:0]
	r.wide = false
}

// account updates wideOwners, contrib and hist for the changed peers.
func (r *peerRoutes) account() {
	for k := range r.dirty {
		delete(r.wideOwners, k)
		for _, p := range r.allowed[k] {
			if !p.IsSingleIP() {
				r.wideOwners[k] = struct{}{}
				break
			}
		}
		old, now := r.contrib[k], 0
		if len(r.allowed[k]) > 0 {
			now = r.limit(k)
		}
		if old == now {
			continue
		}
		if old != 0 {
			if r.hist[old]--; r.hist[old] == 0 {
				delete(r.hist, old)
			}
		}
		if now != 0 {
			r.hist[now]++
			r.contrib[k] = now
		} else {
			delete(r.contrib, k)
		}
	}
}

// minLimit is the smallest limit any peer puts in the table, 0 if none.
func (r *peerRoutes) minLimit() int {
	m := 0
	for lim := range r.hist {
		if m == 0 || lim < m {
			m = lim
		}
	}
	return m
}

// touch records that pub's entries are about to change.
func (r *peerRoutes) touch(pub Key) {
	r.dirty[pub] = struct{}{}
	for _, p := range r.allowed[pub] {
		r.touchPrefix(p)
	}
}

// touchPrefix records that p's entry is about to change.
func (r *peerRoutes) touchPrefix(p netip.Prefix) {
	if p.IsSingleIP() {
		r.stale = append(r.stale, p.Addr())
	} else {
		r.wide = true
	}
}

// setAllowed replaces pub's prefixes, taking each from the peer that had
// it, as WireGuard does. It reports whether a peer with a limit was
// affected (so the table must be rebuilt).
func (r *peerRoutes) setAllowed(pub Key, pfxs []netip.Prefix) bool {
	affected := r.limit(pub) != 0
	r.touch(pub)
	for _, p := range r.allowed[pub] {
		delete(r.owner, p)
	}
	masked := make([]netip.Prefix, 0, len(pfxs))
	for _, p := range pfxs {
		p = p.Masked()
		r.touchPrefix(p)
		if prev, ok := r.owner[p]; ok {
			if prev == pub {
				continue // listed twice
			}
			r.dirty[prev] = struct{}{}
			r.allowed[prev] = slices.DeleteFunc(r.allowed[prev], func(q netip.Prefix) bool { return q == p })
			affected = affected || r.limit(prev) != 0
		}
		masked = append(masked, p)
		r.owner[p] = pub
	}
	r.allowed[pub] = masked
	affected = affected || r.hasWideLimit()
	if !affected {
		r.discard()
	}
	return affected
}

// remove forgets pub; it reports whether the table must be rebuilt.
func (r *peerRoutes) remove(pub Key) bool {
	affected := r.limit(pub) != 0 || r.hasWideLimit()
	r.touch(pub)
	for _, p := range r.allowed[pub] {
		if r.owner[p] == pub {
			delete(r.owner, p)
		}
	}
	delete(r.allowed, pub)
	delete(r.mtus, pub)
	if !affected {
		r.discard()
	}
	return affected
}

// setMTU records pub's limit (0: none).
func (r *peerRoutes) setMTU(pub Key, mtu int) {
	r.touch(pub)
	if mtu == 0 {
		delete(r.mtus, pub)
	} else {
		r.mtus[pub] = mtu
	}
}

// limit is pub's enforced limit, 0 if none.
func (r *peerRoutes) limit(pub Key) int { return enforcedMTU(r.mtus[pub], r.ifMTU) }

// hasWideLimit reports whether a limited peer has a prefix wider than one
// address, which other peers' more specific prefixes may shadow.
func (r *peerRoutes) hasWideLimit() bool {
	for k := range r.wideOwners {
		if r.limit(k) != 0 {
			return true
		}
	}
	for k := range r.dirty { // not yet accounted for
		if r.limit(k) == 0 {
			continue
		}
		for _, p := range r.allowed[k] {
			if !p.IsSingleIP() {
				return true
			}
		}
	}
	return false
}

// table returns the lookup table for the current state, nil when no peer
// has a limit. When only single addresses changed since the last call and
// the table has no wide prefixes (a home agent), it patches a copy of the
// last table; otherwise it rebuilds, at a cost in the number of limited
// peers' prefixes, plus every peer's when a limited peer has a wide
// prefix (a mobile node: one peer).
func (r *peerRoutes) table() *mtuTable {
	wideLimit := r.hasWideLimit()
	r.account()
	var t *mtuTable
	if r.cur == nil || len(r.cur.wide) > 0 || r.wide || len(r.dirty) > patchMax || wideLimit {
		t = r.build()
	} else {
		t = r.patch()
	}
	r.cur = t
	clear(r.dirty)
	r.stale = r.stale[:0]
	r.wide = false
	return t
}

// patchMax is the most peers changed at once that table patches rather
// than rebuilds.
const patchMax = 64

// patch returns a copy of r.cur with the changed entries replaced.
func (r *peerRoutes) patch() *mtuTable {
	exact := maps.Clone(r.cur.exact)
	for _, a := range r.stale {
		delete(exact, a)
	}
	for k := range r.dirty {
		if lim := r.limit(k); lim != 0 {
			for _, p := range r.allowed[k] {
				exact[p.Addr()] = lim // single addresses only (no wide limit)
			}
		}
	}
	t := &mtuTable{exact: exact, min: r.minLimit()}
	if t.min == 0 {
		return nil
	}
	return t
}

// build builds the table from scratch.
func (r *peerRoutes) build() *mtuTable {
	t := &mtuTable{exact: make(map[netip.Addr]int)}
	var wideLimited []netip.Prefix
	add := func(p netip.Prefix, mtu int) {
		if p.IsSingleIP() {
			t.exact[p.Addr()] = mtu
		} else {
			t.wide = append(t.wide, mtuRoute{p, mtu})
		}
	}
	for k := range r.mtus {
		lim := r.limit(k)
		if lim == 0 {
			continue
		}
		if len(r.allowed[k]) > 0 && (t.min == 0 || lim < t.min) {
			t.min = lim
		}
		for _, p := range r.allowed[k] {
			add(p, lim)
			if !p.IsSingleIP() {
				wideLimited = append(wideLimited, p)
			}
		}
	}
	if len(wideLimited) > 0 {
		for k, pfxs := range r.allowed {
			if r.limit(k) != 0 {
				continue
			}
			for _, p := range pfxs {
				for _, w := range wideLimited {
					if p.Bits() > w.Bits() && w.Contains(p.Addr()) {
						add(p, 0)
						break
					}
				}
			}
		}
	}
	if t.min == 0 {
		return nil
	}
	slices.SortStableFunc(t.wide, func(a, b mtuRoute) int { return cmp.Compare(b.pfx.Bits(), a.pfx.Bits()) })
	return t
}
