package pool

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
)

// space is the address arithmetic of one configuration: the prefixes of
// each family and the merged exclusions. It is immutable once built.
type space struct {
	fam  [2][]*prefixState // index famIndex(f)
	excl []netip.Prefix    // merged: sorted, none inside another
}

// prefixState counts what one prefix holds. The counters are kept by the
// Pool under its mutex.
type prefixState struct {
	p        netip.Prefix
	last     netip.Addr // the highest address of p
	ends     bool       // p has network and broadcast addresses (hasEnds)
	capacity uint64     // usable addresses, saturated at MaxUint64

	held        uint64 // leased (reserved or not)
	reserved    uint64 // reserved but not leased
	quarantined uint64
}

// free is how many usable addresses are neither leased, reserved nor
// quarantined (saturating).
func (ps *prefixState) free() uint64 {
	used := ps.held + ps.reserved + ps.quarantined
	if used >= ps.capacity {
		return 0
	}
	return ps.capacity - used
}

func famIndex(f Family) int {
	if f == IPv4 {
		return 0
	}
	return 1
}

// FamilyOf returns the family of an address: IPv4 for IPv4 addresses,
// IPv6 for all others.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

// mergeExclusions sorts exclusions and drops those inside another.
func mergeExclusions(in []netip.Prefix) []netip.Prefix {
	ps := slices.Clone(in)
	// Wider prefixes first so that contained ones are dropped.
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Bits() - b.Bits() })
	var out []netip.Prefix
	for _, p := range ps {
		inside := false
		for _, q := range out {
			if q.Overlaps(p) {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

func newSpace(c Config) *space {
	s := &space{excl: mergeExclusions(c.Exclude)}
	for _, f := range []Family{IPv4, IPv6} {
		for _, p := range c.Prefixes(f) {
			s.fam[famIndex(f)] = append(s.fam[famIndex(f)], &prefixState{p: p, last: lastAddr(p), ends: hasEnds(p), capacity: s.capacity(p)})
		}
	}
	return s
}

// hasEnds reports whether a prefix has a network and broadcast address
// that are never handed out (not in /31, /32, /127, /128).
func hasEnds(p netip.Prefix) bool { return p.Addr().BitLen()-p.Bits() >= 2 }

// capacity counts the usable addresses of p, saturating at MaxUint64.
func (s *space) capacity(p netip.Prefix) uint64 {
	host := p.Addr().BitLen() - p.Bits()
	if host >= 64 {
		return math.MaxUint64 // more than we will ever count
	}
	n := uint64(1) << host
	if hasEnds(p) {
		n -= 2
	}
	for _, x := range s.excl {
		if !x.Overlaps(p) || x.Addr().Is4() != p.Addr().Is4() {
			continue
		}
		if x.Bits() <= p.Bits() {
			return 0 // the whole prefix is excluded
		}
		k := uint64(1) << (x.Addr().BitLen() - x.Bits())
		if hasEnds(p) {
			// The network and broadcast addresses are not counted twice.
			if x.Contains(p.Addr()) {
				k--
			}
			if x.Contains(lastAddr(p)) {
				k--
			}
		}
		n -= min(n, k)
	}
	return n
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		keep := min(max(bits-8*i, 0), 8)
		b[i] |= byte(0xff) >> keep
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// prefixOf returns the state of the pool prefix containing a, or nil.
func (s *space) prefixOf(a netip.Addr) *prefixState {
	for _, ps := range s.fam[famIndex(FamilyOf(a))] {
		if ps.p.Contains(a) {
			return ps
		}
	}
	return nil
}

// exclusionOf returns the exclusion containing a, if any.
func (s *space) exclusionOf(a netip.Addr) (netip.Prefix, bool) {
	if len(s.excl) == 0 {
		return netip.Prefix{}, false
	}
	for _, x := range s.excl {
		if x.Contains(a) {
			return x, true
		}
	}
	return netip.Prefix{}, false
}

// usable reports whether a (inside ps) may be handed out at all, and if
// not, why.
func (s *space) usable(ps *prefixState, a netip.Addr) (ok bool, why string) {
	if ps.ends {
		if a == ps.p.Addr() {
			return false, "the network address of " + ps.p.String()
		}
		if a == ps.last {
			if a.Is4() {
				return false, "the broadcast address of " + ps.p.String()
			}
			return false, "the all-ones address of " + ps.p.String()
		}
	}
	if x, ok := s.exclusionOf(a); ok {
		return false, "excluded by " + x.String()
	}
	return true, ""
}

// derive returns candidate i for identity id inside p: the prefix bits of
// p with host bits from SHA-256(prefix address || prefix length || 0 ||
// id || i).
func derive(p netip.Prefix, id string, i uint32) netip.Addr {
	var stack [192]byte
	a16 := p.Addr().As16()
	buf := append(stack[:0], a16[:]...)
	buf = append(buf, byte(p.Bits()), 0)
	buf = append(buf, id...)
	buf = binary.BigEndian.AppendUint32(buf, i)
	sum := sha256.Sum256(buf)
	return withHost(p, sum[:])
}

// withHost keeps p's prefix bits and takes the host bits from h (at least
// 16 bytes).
func withHost(p netip.Prefix, h []byte) netip.Addr {
	var b [16]byte
	n := p.Addr().BitLen() / 8
	pb := p.Addr().AsSlice()
	for i := range n {
		keep := min(max(p.Bits()-8*i, 0), 8)
		m := ^(byte(0xff) >> keep)
		b[i] = pb[i]&m | h[i]&^m
	}
	a, _ := netip.AddrFromSlice(b[:n])
	return a
}

// nextIn returns the address after a inside p, wrapping to p's first.
func nextIn(p netip.Prefix, a netip.Addr) netip.Addr {
	n := a.Next()
	if !n.IsValid() || !p.Contains(n) {
		return p.Addr()
	}
	return n
}
