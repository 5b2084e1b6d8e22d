package pool

import "net/netip"

// CheckReservation reports whether device id may be pinned to addr: the
// address must lie inside a prefix (ErrOutside), be usable (ErrUnusable:
// network, broadcast or excluded) and not be held by or reserved for
// another device (*ConflictError). A quarantined address may be reserved:
// the admin's choice wins over the quarantine.
func (p *Pool) CheckReservation(id string, addr netip.Addr) error {
	if err := checkID(id); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checkReservationLocked(p.lookupLocked(id), addr)
}

func (p *Pool) checkReservationLocked(d devID, addr netip.Addr) error {
	if err := p.checkLocked(addr); err != nil {
		return err
	}
	if e, ok := p.addrs[key(addr)]; ok && e.dev != d && e.st&(stHeld|stReserved) != 0 {
		return &ConflictError{Addr: addr, Holder: p.devs[e.dev].id, Reserved: e.st&stHeld == 0}
	}
	return nil
}

// Reserve pins device id to addr, as committed in the store: it replaces
// the device's reservation of that family, and if the device holds an
// address of that family, the lease moves to addr and the old address goes
// into quarantine. It refuses what CheckReservation refuses.
func (p *Pool) Reserve(id string, addr netip.Addr) error {
	if err := checkID(id); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkReservationLocked(p.lookupLocked(id), addr); err != nil {
		return err
	}
	d := p.internLocked(id)
	p.devs[d].refs++ // keep d while its entries change
	defer p.unrefLocked(d)
	fi := famIndex(FamilyOf(addr))
	if r := p.resv[d][fi]; r.IsValid() && r != addr {
		p.unreserveLocked(d, r)
	}
	h := p.devs[d].held[fi]
	if h.IsValid() && h != addr {
		p.releaseLocked(d, h, p.now())
	}
	if e, ok := p.addrs[key(addr)]; ok {
		clearIndex(p.quar, e.dev, fi, addr)
	}
	st := stReserved
	if h.IsValid() {
		st |= stHeld
		p.devs[d].held[fi] = addr
	}
	delete(p.pend, addr)
	p.setLocked(addr, entry{dev: d, st: st})
	setIndex(p.resv, d, fi, addr)
	return nil
}

// Unreserve removes device id's reservation of addr. If the device holds
// the address it keeps it as an ordinary lease.
func (p *Pool) Unreserve(id string, addr netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.lookupLocked(id); d != 0 {
		p.unreserveLocked(d, addr)
	}
}

func (p *Pool) unreserveLocked(d devID, addr netip.Addr) {
	e, ok := p.addrs[key(addr)]
	if !ok || e.dev != d || e.st&stReserved == 0 {
		return
	}
	clearIndex(p.resv, d, famIndex(FamilyOf(addr)), addr)
	p.replaceLocked(addr, e, true, entry{dev: d, st: e.st &^ stReserved})
}

// Reservations returns device id's reserved addresses (IPv4 first).
func (p *Pool) Reservations(id string) []netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []netip.Addr
	for _, a := range p.resv[p.lookupLocked(id)] {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}
