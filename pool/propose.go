package pool

import (
	"fmt"
	"net/netip"
)

// hashedTries is how many identity-derived candidates are tried per
// prefix before the linear probe.
const hashedTries = 16

// Propose returns the address device id should hold in a family: the one
// it holds, its reservation, the address it released if still quarantined
// for it, or a fresh identity-derived address (see the package doc). When
// the family has no free address, the quarantined address released longest
// ago is proposed; when there is none either, the error wraps
// ErrExhausted. ErrNoFamily means the pool has no prefix of that family.
//
// Propose records nothing durable: the caller commits the proposal to the
// store and reports it with Hold. Until then (at most 30 s) the address is
// not proposed to other devices, so concurrent callers get different
// addresses.
func (p *Pool) Propose(id string, fam Family) (netip.Addr, error) {
	if err := checkID(id); err != nil {
		return netip.Addr{}, err
	}
	if fam != IPv4 && fam != IPv6 {
		return netip.Addr{}, fmt.Errorf("%w: family %d", ErrNoFamily, fam)
	}
	fi := famIndex(fam)
	p.mu.Lock()
	defer p.mu.Unlock()
	prefixes := p.sp.fam[fi]
	if len(prefixes) == 0 {
		return netip.Addr{}, fmt.Errorf("%w: no IPv%d prefix", ErrNoFamily, fam)
	}
	d := p.lookupLocked(id)
	if d != 0 {
		if a := p.devs[d].held[fi]; a.IsValid() {
			return a, nil
		}
		if a := p.resv[d][fi]; a.IsValid() {
			return a, nil
		}
	}
	now := p.now().UnixNano()
	p.expireLocked(now)
	if d := p.lookupLocked(id); d != 0 { // expiry may have freed it
		if a := p.quar[d][fi]; a.IsValid() {
			if e, ok := p.addrs[key(a)]; ok && e.dev == d && e.st == stQuarantined {
				return a, nil
			}
		}
	}
	for _, avoidPending := range []bool{true, false} {
		for _, ps := range prefixes {
			if ps.free() == 0 {
				continue
			}
			if a, ok := p.searchLocked(ps, id, avoidPending, now); ok {
				p.pend[a] = pending{dev: id, at: now}
				return a, nil
			}
		}
	}
	if a, ok := p.oldestQuarantinedLocked(fi); ok {
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("%w: no free IPv%d address in %v", ErrExhausted, fam, p.cfg.Prefixes(fam))
}

// searchLocked finds a free address in ps for id: the hashed candidates,
// then a linear probe from candidate 0 that skips excluded ranges. It
// terminates because every probe step either visits a distinct address
// that has an entry (bounded by the map) or jumps over an exclusion.
func (p *Pool) searchLocked(ps *prefixState, id string, avoidPending bool, now int64) (netip.Addr, bool) {
	for i := range uint32(hashedTries) {
		a := derive(ps.p, id, i)
		if ok, _ := p.freeLocked(ps, a, id, avoidPending, now); ok {
			return a, true
		}
	}
	start := derive(ps.p, id, 0)
	a, wrapped := start, false
	for {
		ok, skipTo := p.freeLocked(ps, a, id, avoidPending, now)
		if ok {
			return a, true
		}
		next := skipTo
		if !next.IsValid() {
			next = nextIn(ps.p, a)
		}
		if !a.Less(next) {
			wrapped = true
		}
		if wrapped && !next.Less(start) {
			return netip.Addr{}, false // went round the whole prefix
		}
		a = next
	}
}

// freeLocked reports whether a may be proposed to id. When a lies in an
// exclusion it also returns the address just after it (wrapped into the
// prefix) so that the probe can jump.
func (p *Pool) freeLocked(ps *prefixState, a netip.Addr, id string, avoidPending bool, now int64) (bool, netip.Addr) {
	if x, ok := p.sp.exclusionOf(a); ok {
		return false, nextIn(ps.p, lastAddr(x))
	}
	if ok, _ := p.sp.usable(ps, a); !ok {
		return false, netip.Addr{}
	}
	if _, taken := p.addrs[key(a)]; taken {
		return false, netip.Addr{}
	}
	if avoidPending {
		if pd, ok := p.pend[a]; ok && pd.dev != id {
			if now-pd.at < int64(pendingTTL) {
				return false, netip.Addr{}
			}
			delete(p.pend, a)
		}
	}
	return true, netip.Addr{}
}
