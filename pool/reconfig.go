package pool

import (
	"container/heap"
	"slices"
)

// Reconfigure replaces the configuration. Adding prefixes or exclusions of
// free space is fine; a change that would leave a leased or reserved
// address outside every prefix, or make it unusable (excluded, or the
// network or broadcast address of a changed prefix), is refused with a
// *ChangeError (ErrLeasesAffected) listing every affected device, and
// nothing changes. Quarantined addresses that fall outside are forgotten;
// quarantines already running keep their expiry.
func (p *Pool) Reconfigure(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cloneConfig(cfg)
	sp := newSpace(cfg)
	p.mu.Lock()
	defer p.mu.Unlock()
	var affected []Affected
	for k, e := range p.addrs {
		a := k.addr()
		if e.st&(stHeld|stReserved) == 0 {
			continue
		}
		ps := sp.prefixOf(a)
		ok := ps != nil
		if ok {
			ok, _ = sp.usable(ps, a)
		}
		if !ok {
			affected = append(affected, Affected{DeviceID: p.devs[e.dev].id, Addr: a, Reserved: e.st&stReserved != 0})
		}
	}
	if len(affected) > 0 {
		slices.SortFunc(affected, func(x, y Affected) int { return x.Addr.Compare(y.Addr) })
		return &ChangeError{Affected: affected}
	}
	p.cfg, p.sp = cfg, sp
	p.qheap = [2]qHeap{}
	for k, e := range p.addrs {
		a := k.addr()
		ps := sp.prefixOf(a)
		usable := ps != nil
		if usable {
			usable, _ = sp.usable(ps, a)
		}
		if !usable { // only quarantined entries can get here
			clearIndex(p.quar, e.dev, famIndex(FamilyOf(a)), a)
			delete(p.addrs, key(a))
			delete(p.until, key(a))
			p.unrefLocked(e.dev)
			continue
		}
		count(ps, e.st, 1)
		if e.st == stQuarantined {
			p.qheap[famIndex(FamilyOf(a))] = append(p.qheap[famIndex(FamilyOf(a))], qItem{addr: a, until: p.until[key(a)]})
		}
	}
	for fi := range p.qheap {
		heap.Init(&p.qheap[fi])
	}
	return nil
}
