package pool

import (
	"container/heap"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// state flags of an address entry.
type state uint8

const (
	stHeld        state = 1 << iota // leased to dev
	stReserved                      // reserved for dev
	stQuarantined                   // released by dev, kept from others until Pool.until[addr]
)

// devID is a device interned in Pool.devs; 0 means none.
type devID uint32

// devRec is one device the pool knows: every device that holds, reserves
// or has quarantined an address. It is freed when the last entry naming it
// goes (refs), so memory follows the number of live addresses.
type devRec struct {
	id   string
	held [2]netip.Addr // leased address per family
	refs uint32        // entries naming this device
}

// akey is an address as a map key: its 16-byte form (IPv4 mapped into
// ::ffff:0:0/96, which is why IPv6 pool prefixes may not overlap that
// range). Unlike netip.Addr it holds no pointer, so the garbage collector
// never scans the big address map.
type akey [16]byte

func key(a netip.Addr) akey { return a.As16() }

// addr converts a key back.
func (k akey) addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

// entry is what the pool knows about one address. Free addresses have no
// entry. It is 8 bytes so that a million devices fit in little memory.
type entry struct {
	dev devID
	st  state
}

// pending remembers a proposal not yet committed, so that concurrent
// callers are not all proposed the same address.
type pending struct {
	dev string
	at  int64
}

// pendingTTL is how long a proposal keeps an address from other proposals
// if its caller never reports back.
const pendingTTL = 30 * time.Second

// Option configures New.
type Option func(*Pool)

// WithClock sets the clock used for quarantine (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(p *Pool) {
		if now != nil {
			p.now = now
		}
	}
}

// Pool proposes addresses and mirrors the store's leases, reservations and
// quarantine. It is safe for concurrent use.
type Pool struct {
	now func() time.Time

	mu    sync.Mutex
	cfg   Config
	sp    *space
	addrs map[akey]entry          // every non-free address
	until map[akey]int64          // quarantine expiry (Unix ns) of quarantined entries
	devs  []devRec                // by devID; devs[0] unused
	byID  map[string]devID        // interned devices
	free  []devID                 // reusable devs slots
	resv  map[devID][2]netip.Addr // device → reserved address per family
	quar  map[devID][2]netip.Addr // device → latest address it released, quarantined
	qheap [2]qHeap                // quarantine expiry per family
	pend  map[netip.Addr]pending  // proposals in flight
}

// New returns an empty pool for a validated configuration.
func New(cfg Config, opts ...Option) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Pool{
		now:   time.Now,
		cfg:   cloneConfig(cfg),
		addrs: make(map[akey]entry),
		until: make(map[akey]int64),
		devs:  make([]devRec, 1),
		byID:  make(map[string]devID),
		resv:  make(map[devID][2]netip.Addr),
		quar:  make(map[devID][2]netip.Addr),
		pend:  make(map[netip.Addr]pending),
	}
	for _, o := range opts {
		o(p)
	}
	p.sp = newSpace(p.cfg)
	return p, nil
}

func cloneConfig(c Config) Config {
	c.V4 = append([]netip.Prefix(nil), c.V4...)
	c.V6 = append([]netip.Prefix(nil), c.V6...)
	c.Exclude = append([]netip.Prefix(nil), c.Exclude...)
	return c
}

// Config returns the current configuration.
func (p *Pool) Config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return cloneConfig(p.cfg)
}

// Families lists the families that have at least one prefix, IPv4 first.
func (p *Pool) Families() []Family {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Family
	for _, f := range []Family{IPv4, IPv6} {
		if len(p.sp.fam[famIndex(f)]) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// lookupLocked returns the interned device for id, or 0.
func (p *Pool) lookupLocked(id string) devID { return p.byID[id] }

// internLocked returns the device for id, making a record if needed. The
// caller must make an entry name it (or hold a reference) before anything
// can unreference it, or the record leaks until then.
func (p *Pool) internLocked(id string) devID {
	if d, ok := p.byID[id]; ok {
		return d
	}
	var d devID
	if n := len(p.free); n > 0 {
		d, p.free = p.free[n-1], p.free[:n-1]
		p.devs[d] = devRec{id: id}
	} else {
		d = devID(len(p.devs))
		p.devs = append(p.devs, devRec{id: id})
	}
	p.byID[id] = d
	return d
}

// unrefLocked drops one reference to d and frees it at zero.
func (p *Pool) unrefLocked(d devID) {
	p.devs[d].refs--
	if p.devs[d].refs > 0 {
		return
	}
	delete(p.byID, p.devs[d].id)
	delete(p.resv, d)
	delete(p.quar, d)
	p.devs[d] = devRec{}
	p.free = append(p.free, d)
}

// setLocked replaces the entry of a (deleting it when e.st is zero) and
// keeps the prefix counters and device references in step.
func (p *Pool) setLocked(a netip.Addr, e entry) {
	old, had := p.addrs[key(a)]
	p.replaceLocked(a, old, had, e)
}

// replaceLocked is setLocked when the caller has looked up the old entry.
func (p *Pool) replaceLocked(a netip.Addr, old entry, had bool, e entry) {
	if ps := p.sp.prefixOf(a); ps != nil {
		if had {
			count(ps, old.st, ^uint64(0))
		}
		count(ps, e.st, 1)
	}
	if e.st != 0 {
		p.devs[e.dev].refs++
		p.addrs[key(a)] = e
	} else {
		delete(p.addrs, key(a))
	}
	if had {
		if old.st == stQuarantined && e.st != stQuarantined {
			delete(p.until, key(a))
		}
		p.unrefLocked(old.dev)
	}
}

// count adds d (1 or -1 as two's complement) to the counter of st.
func count(ps *prefixState, st state, d uint64) {
	switch {
	case st&stHeld != 0:
		ps.held += d
	case st&stReserved != 0:
		ps.reserved += d
	case st&stQuarantined != 0:
		ps.quarantined += d
	}
}

// setIndex sets m[d][fi] = a (an invalid a clears it) and drops empty
// rows.
func setIndex(m map[devID][2]netip.Addr, d devID, fi int, a netip.Addr) {
	v := m[d]
	v[fi] = a
	if !v[0].IsValid() && !v[1].IsValid() {
		delete(m, d)
		return
	}
	m[d] = v
}

// clearIndex clears m[d][fi] if it is a.
func clearIndex(m map[devID][2]netip.Addr, d devID, fi int, a netip.Addr) {
	if v, ok := m[d]; ok && v[fi] == a {
		setIndex(m, d, fi, netip.Addr{})
	}
}

// checkLocked validates an address for holding or reserving.
func (p *Pool) checkLocked(a netip.Addr) error {
	if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
		return fmt.Errorf("%w: %v is not a plain IPv4 or IPv6 address", ErrUnusable, a)
	}
	ps := p.sp.prefixOf(a)
	if ps == nil {
		return fmt.Errorf("%w: %v (IPv%d prefixes: %v)", ErrOutside, a, FamilyOf(a), p.cfg.Prefixes(FamilyOf(a)))
	}
	if ok, why := p.sp.usable(ps, a); !ok {
		return fmt.Errorf("%w: %v is %s", ErrUnusable, a, why)
	}
	return nil
}

func checkID(id string) error {
	if id == "" {
		return ErrInvalidID
	}
	return nil
}

// Hold records that device id holds addr, as committed in the store. The
// store is the truth: whatever the pool believed about addr (another
// holder, a quarantine) and about the device's previous address of that
// family is replaced. Hold refuses, and records nothing, for an address
// outside every prefix or not usable (ErrOutside, ErrUnusable).
func (p *Pool) Hold(id string, addr netip.Addr) error {
	if err := checkID(id); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkLocked(addr); err != nil {
		return err
	}
	p.holdLocked(id, addr)
	return nil
}

func (p *Pool) holdLocked(id string, addr netip.Addr) {
	p.holdDevLocked(p.internLocked(id), addr)
}

// holdDevLocked is holdLocked for an interned device.
func (p *Pool) holdDevLocked(d devID, addr netip.Addr) {
	fi := famIndex(FamilyOf(addr))
	if len(p.pend) > 0 {
		delete(p.pend, addr)
	}
	cur := p.devs[d].held[fi]
	if cur == addr {
		return
	}
	old, had := p.addrs[key(addr)]
	if had {
		od := old.dev
		if od != d {
			if p.devs[od].held[fi] == addr {
				p.devs[od].held[fi] = netip.Addr{}
			}
			clearIndex(p.resv, od, fi, addr)
		}
		clearIndex(p.quar, od, fi, addr)
	}
	st := stHeld
	if len(p.resv) > 0 && p.resv[d][fi] == addr {
		st |= stReserved
	}
	p.replaceLocked(addr, old, had, entry{dev: d, st: st})
	p.devs[d].held[fi] = addr
	if cur.IsValid() {
		// The device moved without the pool seeing the release.
		e := p.addrs[key(cur)]
		e.st &^= stHeld
		p.setLocked(cur, e)
	}
}

// HoldDevice is Hold for every address of one device, under one lock and
// with one device lookup: lease.LoadPool calls it device by device when
// the store lists leases grouped by device, which is what makes loading a
// million devices fast. Addresses the pool refuses (ErrOutside,
// ErrUnusable) are skipped and the others held; the first refusal is
// returned.
func (p *Pool) HoldDevice(id string, addrs ...netip.Addr) error {
	if err := checkID(id); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var first error
	var d devID
	for _, a := range addrs {
		if err := p.checkLocked(a); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if d == 0 {
			// Interned only once an address will name it, so a device
			// whose addresses are all refused leaves no record behind.
			d = p.internLocked(id)
		}
		p.holdDevLocked(d, a)
	}
	return first
}

// Release records that device id gave addr up at the given time. A
// reserved address stays reserved for the device; any other goes into
// quarantine for Config.Quarantine from at. Releasing an address the
// device does not hold does nothing.
func (p *Pool) Release(id string, addr netip.Addr, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.lookupLocked(id); d != 0 {
		p.releaseLocked(d, addr, at)
	}
}

func (p *Pool) releaseLocked(d devID, addr netip.Addr, at time.Time) {
	e, ok := p.addrs[key(addr)]
	if !ok || e.dev != d || e.st&stHeld == 0 {
		return
	}
	p.devs[d].held[famIndex(FamilyOf(addr))] = netip.Addr{}
	switch q := p.cfg.quarantine(); {
	case e.st&stReserved != 0:
		p.replaceLocked(addr, e, true, entry{dev: d, st: stReserved})
	case q > 0:
		p.quarantineLocked(d, addr, at.Add(q).UnixNano())
	default:
		p.replaceLocked(addr, e, true, entry{})
	}
}

func (p *Pool) quarantineLocked(d devID, addr netip.Addr, until int64) {
	fi := famIndex(FamilyOf(addr))
	p.setLocked(addr, entry{dev: d, st: stQuarantined})
	p.until[key(addr)] = until
	heap.Push(&p.qheap[fi], qItem{addr: addr, until: until})
	// The device's index points at its latest release (ties: the lower
	// address), whatever the order in which releases are reported.
	if cur := p.quar[d][fi]; cur.IsValid() && cur != addr {
		if e, ok := p.addrs[key(cur)]; ok && e.dev == d && e.st == stQuarantined {
			if u := p.until[key(cur)]; u > until || u == until && cur.Less(addr) {
				return
			}
		}
	}
	setIndex(p.quar, d, fi, addr)
}

// Quarantine records an address that device id released at the given
// time (used when loading the store). It does nothing if the address is
// held or reserved, outside the pool, or its quarantine is over.
func (p *Pool) Quarantine(id string, addr netip.Addr, released time.Time) {
	if checkID(id) != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.cfg.quarantine()
	if q <= 0 || p.checkLocked(addr) != nil {
		return
	}
	until := released.Add(q)
	if !until.After(p.now()) {
		return
	}
	if e, ok := p.addrs[key(addr)]; ok {
		if e.st&(stHeld|stReserved) != 0 {
			return
		}
		clearIndex(p.quar, e.dev, famIndex(FamilyOf(addr)), addr)
	}
	p.quarantineLocked(p.internLocked(id), addr, until.UnixNano())
}

// ForgetDevice drops a deleted device: its reservations go, its leases are
// released into quarantine at the given time.
func (p *Pool) ForgetDevice(id string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.lookupLocked(id)
	if d == 0 {
		return
	}
	p.devs[d].refs++ // keep d while its entries change
	for _, r := range p.resv[d] {
		if r.IsValid() {
			p.unreserveLocked(d, r)
		}
	}
	for _, h := range p.devs[d].held {
		if h.IsValid() {
			p.releaseLocked(d, h, at)
		}
	}
	p.unrefLocked(d)
}

// Holder returns the device holding addr, if any.
func (p *Pool) Holder(addr netip.Addr) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.addrs[key(addr)]
	if !ok || e.st&stHeld == 0 {
		return "", false
	}
	return p.devs[e.dev].id, true
}

// Addrs returns the addresses device id holds (IPv4 first).
func (p *Pool) Addrs(id string) []netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []netip.Addr
	if d := p.lookupLocked(id); d != 0 {
		for _, a := range p.devs[d].held {
			if a.IsValid() {
				out = append(out, a)
			}
		}
	}
	return out
}

// Grow prepares an empty pool for loading about this many devices and
// addresses (lease.LoadPool calls it with the store's counts), so that the
// load does not rehash its maps over and over. On a pool that holds
// anything already it does nothing.
func (p *Pool) Grow(devices, addrs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.addrs) > 0 || len(p.byID) > 0 || devices <= 0 || addrs <= 0 {
		return
	}
	p.addrs = make(map[akey]entry, addrs)
	p.byID = make(map[string]devID, devices)
	p.devs = make([]devRec, 1, devices+1)
}
