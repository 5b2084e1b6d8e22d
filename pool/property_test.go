package pool

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// model is the obvious, slow specification the pool is checked against.
type model struct {
	now     time.Time
	q       time.Duration
	usable  map[Family][]netip.Addr
	held    map[netip.Addr]string
	devHeld map[string]map[Family]netip.Addr
	resv    map[netip.Addr]string
	devResv map[string]map[Family]netip.Addr
	quar    map[netip.Addr]qrec
	devQuar map[string]map[Family]netip.Addr // the latest release
}

type qrec struct {
	dev   string
	until time.Time
}

func newModel(cfg Config, now time.Time) *model {
	m := &model{
		now: now, q: cfg.quarantine(),
		usable: map[Family][]netip.Addr{},
		held:   map[netip.Addr]string{}, devHeld: map[string]map[Family]netip.Addr{},
		resv: map[netip.Addr]string{}, devResv: map[string]map[Family]netip.Addr{},
		quar: map[netip.Addr]qrec{}, devQuar: map[string]map[Family]netip.Addr{},
	}
	for _, f := range []Family{IPv4, IPv6} {
		for _, p := range cfg.Prefixes(f) {
			for a := p.Addr(); p.Contains(a); a = a.Next() {
				if hasEnds(p) && (a == p.Addr() || a == lastAddr(p)) {
					continue
				}
				excluded := false
				for _, x := range cfg.Exclude {
					excluded = excluded || x.Contains(a)
				}
				if !excluded {
					m.usable[f] = append(m.usable[f], a)
				}
			}
		}
	}
	return m
}

func get(m map[string]map[Family]netip.Addr, id string, f Family) netip.Addr { return m[id][f] }

func set(m map[string]map[Family]netip.Addr, id string, f Family, a netip.Addr) {
	if m[id] == nil {
		m[id] = map[Family]netip.Addr{}
	}
	if a.IsValid() {
		m[id][f] = a
	} else {
		delete(m[id], f)
	}
}

func (m *model) expire() {
	for a, q := range m.quar {
		if !q.until.After(m.now) {
			delete(m.quar, a)
			if get(m.devQuar, q.dev, FamilyOf(a)) == a {
				set(m.devQuar, q.dev, FamilyOf(a), netip.Addr{})
			}
		}
	}
}

func (m *model) isUsable(a netip.Addr) bool {
	for _, u := range m.usable[FamilyOf(a)] {
		if u == a {
			return true
		}
	}
	return false
}

func (m *model) free(f Family) int {
	n := 0
	for _, a := range m.usable[f] {
		_, h := m.held[a]
		_, r := m.resv[a]
		_, q := m.quar[a]
		if !h && !r && !q {
			n++
		}
	}
	return n
}

func (m *model) dropQuar(a netip.Addr) {
	if q, ok := m.quar[a]; ok {
		delete(m.quar, a)
		if get(m.devQuar, q.dev, FamilyOf(a)) == a {
			set(m.devQuar, q.dev, FamilyOf(a), netip.Addr{})
		}
	}
}

func (m *model) hold(id string, a netip.Addr) {
	f := FamilyOf(a)
	m.dropQuar(a)
	m.held[a] = id
	set(m.devHeld, id, f, a)
}

func (m *model) release(id string, a netip.Addr) {
	f := FamilyOf(a)
	if m.held[a] != id {
		return
	}
	delete(m.held, a)
	set(m.devHeld, id, f, netip.Addr{})
	if m.resv[a] == id || m.q <= 0 {
		return
	}
	until := m.now.Add(m.q)
	m.quar[a] = qrec{dev: id, until: until}
	// The device gets back its latest release; ties go to the lower
	// address.
	if cur := get(m.devQuar, id, f); cur.IsValid() {
		if q, ok := m.quar[cur]; ok && q.dev == id && (q.until.After(until) || q.until.Equal(until) && cur.Less(a)) {
			return
		}
	}
	set(m.devQuar, id, f, a)
}

func (m *model) unreserve(id string, a netip.Addr) {
	if m.resv[a] == id {
		delete(m.resv, a)
		set(m.devResv, id, FamilyOf(a), netip.Addr{})
	}
}

func (m *model) reserve(id string, a netip.Addr) {
	f := FamilyOf(a)
	if old := get(m.devResv, id, f); old.IsValid() && old != a {
		m.unreserve(id, old)
	}
	h := get(m.devHeld, id, f)
	if h.IsValid() && h != a {
		m.release(id, h)
	}
	m.dropQuar(a)
	m.resv[a] = id
	set(m.devResv, id, f, a)
	if h.IsValid() {
		m.held[a] = id
		set(m.devHeld, id, f, a)
	}
}

// oldestQuar is the quarantined address the pool must fall back to.
func (m *model) oldestQuar(f Family) (netip.Addr, bool) {
	var best netip.Addr
	var bu time.Time
	for a, q := range m.quar {
		if FamilyOf(a) != f {
			continue
		}
		if !best.IsValid() || q.until.Before(bu) || (q.until.Equal(bu) && a.Less(best)) {
			best, bu = a, q.until
		}
	}
	return best, best.IsValid()
}

// rebuild makes a fresh pool from the model, as store.LoadPool would.
func (m *model) rebuild(t *testing.T, cfg Config) *Pool {
	p, err := New(cfg, WithClock(func() time.Time { return m.now }))
	if err != nil {
		t.Fatal(err)
	}
	// Leases grouped by device, as LoadPool hands them over.
	byDev := map[string][]netip.Addr{}
	for a, id := range m.held {
		byDev[id] = append(byDev[id], a)
	}
	for id, as := range byDev {
		if err := p.HoldDevice(id, as...); err != nil {
			t.Fatal(err)
		}
	}
	for a, id := range m.resv {
		if err := p.Reserve(id, a); err != nil {
			t.Fatal(err)
		}
	}
	for a, q := range m.quar {
		p.Quarantine(q.dev, a, q.until.Add(-m.q))
	}
	return p
}

// check compares every observable of the pool with the model.
func (m *model) check(t *testing.T, p *Pool, step int, op string) {
	t.Helper()
	m.expire()
	for _, u := range p.Utilisation() {
		var held, resvOnly, quar uint64
		for a := range m.held {
			if FamilyOf(a) == u.Family {
				held++
			}
		}
		for a := range m.resv {
			if _, h := m.held[a]; !h && FamilyOf(a) == u.Family {
				resvOnly++
			}
		}
		for a := range m.quar {
			if FamilyOf(a) == u.Family {
				quar++
			}
		}
		if u.Leased != held || u.Reserved != resvOnly || u.Quarantined != quar || u.Capacity != uint64(len(m.usable[u.Family])) {
			t.Fatalf("step %d (%s): IPv%d usage %+v, model leased %d reserved %d quarantined %d capacity %d",
				step, op, u.Family, u, held, resvOnly, quar, len(m.usable[u.Family]))
		}
	}
	for _, f := range []Family{IPv4, IPv6} {
		for _, a := range m.usable[f] {
			id, ok := p.Holder(a)
			if mid, mok := m.held[a]; ok != mok || id != mid {
				t.Fatalf("step %d (%s): Holder(%v) = %q,%v; model %q,%v", step, op, a, id, ok, mid, mok)
			}
		}
	}
}

func TestPropertyAgainstModel(t *testing.T) {
	cfg, err := ParseConfig([]byte("v4 192.0.2.0/28\nv6 2001:db8::/124\nexclude 192.0.2.5 2001:db8::3\nquarantine 1h"))
	if err != nil {
		t.Fatal(err)
	}
	seeds, steps := 60, 400
	if testing.Short() {
		seeds = 10
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runModel(t, cfg, uint64(seed), steps)
		})
	}
}

func runModel(t *testing.T, cfg Config, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b9))
	m := newModel(cfg, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := m.rebuild(t, cfg)
	dev := func() string { return fmt.Sprint("d", rng.IntN(20)) }
	fam := func() Family { return []Family{IPv4, IPv6}[rng.IntN(2)] }
	anyAddr := func(f Family) netip.Addr {
		// Mostly usable addresses, sometimes network, broadcast,
		// excluded or outside ones.
		pfx := cfg.Prefixes(f)[0]
		switch rng.IntN(10) {
		case 0:
			return pfx.Addr()
		case 1:
			return lastAddr(pfx)
		case 2:
			return cfg.Exclude[famIndex(f)].Addr()
		case 3:
			return lastAddr(pfx).Next()
		}
		return m.usable[f][rng.IntN(len(m.usable[f]))]
	}
	for step := range steps {
		m.expire()
		var op string
		switch r := rng.IntN(100); {
		case r < 45: // allocate
			id, f := dev(), fam()
			op = fmt.Sprintf("allocate %s IPv%d", id, f)
			a, err := p.Propose(id, f)
			var want netip.Addr
			switch {
			case get(m.devHeld, id, f).IsValid():
				want = get(m.devHeld, id, f)
			case get(m.devResv, id, f).IsValid():
				want = get(m.devResv, id, f)
			case get(m.devQuar, id, f).IsValid():
				want = get(m.devQuar, id, f)
			}
			if want.IsValid() {
				if err != nil || a != want {
					t.Fatalf("step %d (%s): got %v, %v; sticky address is %v", step, op, a, err, want)
				}
			} else if err != nil {
				if !errors.Is(err, ErrExhausted) || m.free(f) != 0 || len(m.quar) != 0 && func() bool { _, ok := m.oldestQuar(f); return ok }() {
					t.Fatalf("step %d (%s): %v with %d free", step, op, err, m.free(f))
				}
				break
			} else {
				if !m.isUsable(a) {
					t.Fatalf("step %d (%s): proposed unusable %v", step, op, a)
				}
				if h, ok := m.held[a]; ok {
					t.Fatalf("step %d (%s): proposed %v held by %s", step, op, a, h)
				}
				if r, ok := m.resv[a]; ok {
					t.Fatalf("step %d (%s): proposed %v reserved for %s", step, op, a, r)
				}
				if _, ok := m.quar[a]; ok {
					oldest, _ := m.oldestQuar(f)
					if m.free(f) != 0 || a != oldest {
						t.Fatalf("step %d (%s): proposed quarantined %v with %d free (oldest %v)", step, op, a, m.free(f), oldest)
					}
				}
			}
			if err := p.Hold(id, a); err != nil {
				t.Fatalf("step %d (%s): Hold: %v", step, op, err)
			}
			m.hold(id, a)
		case r < 65: // release
			id, f := dev(), fam()
			op = fmt.Sprintf("release %s IPv%d", id, f)
			if a := get(m.devHeld, id, f); a.IsValid() {
				p.Release(id, a, m.now)
				m.release(id, a)
			}
		case r < 75: // reserve
			id, f := dev(), fam()
			a := anyAddr(f)
			op = fmt.Sprintf("reserve %v for %s", a, id)
			err := p.Reserve(id, a)
			var want error
			switch {
			case !m.isUsable(a):
				want = ErrOutside
				if cfg.Prefixes(f)[0].Contains(a) {
					want = ErrUnusable
				}
			case m.held[a] != "" && m.held[a] != id, m.resv[a] != "" && m.resv[a] != id:
				want = ErrInUse
			}
			if want == nil && err != nil || want != nil && !errors.Is(err, want) {
				t.Fatalf("step %d (%s): %v, want %v", step, op, err, want)
			}
			if err == nil {
				m.reserve(id, a)
			}
		case r < 80: // unreserve
			id, f := dev(), fam()
			op = fmt.Sprintf("unreserve %s IPv%d", id, f)
			if a := get(m.devResv, id, f); a.IsValid() {
				p.Unreserve(id, a)
				m.unreserve(id, a)
			}
		case r < 85: // delete device
			id := dev()
			op = "forget " + id
			p.ForgetDevice(id, m.now)
			for _, f := range []Family{IPv4, IPv6} {
				if a := get(m.devResv, id, f); a.IsValid() {
					m.unreserve(id, a)
				}
				if a := get(m.devHeld, id, f); a.IsValid() {
					m.release(id, a)
				}
			}
		case r < 95:
			d := time.Duration(rng.IntN(30)) * time.Minute
			op = fmt.Sprint("advance ", d)
			m.now = m.now.Add(d)
		default: // restart from the durable state
			op = "restart"
			m.expire()
			p = m.rebuild(t, cfg)
			other := m.rebuild(t, cfg)
			for i := range 20 {
				id := fmt.Sprint("d", i)
				for _, f := range []Family{IPv4, IPv6} {
					a1, e1 := p.Propose(id, f)
					a2, e2 := other.Propose(id, f)
					if a1 != a2 || (e1 == nil) != (e2 == nil) {
						t.Fatalf("step %d: rebuilt pools disagree for %s: %v/%v vs %v/%v", step, id, a1, e1, a2, e2)
					}
				}
			}
			p = m.rebuild(t, cfg) // without the pending proposals
		}
		m.check(t, p, step, op)
		checkInternals(t, p, step, op)
	}
}

// checkInternals verifies the pool's bookkeeping: device references match
// the entries naming them, freed records are not reachable, indexes point
// at entries of their device, quarantine expiries exist exactly for
// quarantined entries.
func checkInternals(t *testing.T, p *Pool, step int, op string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	refs := map[devID]uint32{}
	for k, e := range p.addrs {
		a := k.addr()
		refs[e.dev]++
		_, hasUntil := p.until[key(a)]
		if (e.st == stQuarantined) != hasUntil {
			t.Fatalf("step %d (%s): %v state %d, until recorded %v", step, op, a, e.st, hasUntil)
		}
		if e.st&stHeld != 0 && p.devs[e.dev].held[famIndex(FamilyOf(a))] != a {
			t.Fatalf("step %d (%s): %v held by %s but not in its record", step, op, a, p.devs[e.dev].id)
		}
	}
	if len(p.until) != func() int {
		n := 0
		for _, e := range p.addrs {
			if e.st == stQuarantined {
				n++
			}
		}
		return n
	}() {
		t.Fatalf("step %d (%s): stale quarantine expiries", step, op)
	}
	for id, d := range p.byID {
		if p.devs[d].id != id || p.devs[d].refs != refs[d] || refs[d] == 0 {
			t.Fatalf("step %d (%s): device %q (%d) refs %d, entries %d", step, op, id, d, p.devs[d].refs, refs[d])
		}
	}
	if len(refs) != len(p.byID) {
		t.Fatalf("step %d (%s): %d devices named by entries, %d interned", step, op, len(refs), len(p.byID))
	}
	for d, v := range p.resv {
		for _, a := range v {
			if a.IsValid() && (p.addrs[key(a)].dev != d || p.addrs[key(a)].st&stReserved == 0) {
				t.Fatalf("step %d (%s): reservation index %v of %d stale", step, op, a, d)
			}
		}
	}
	for d, v := range p.quar {
		for _, a := range v {
			if a.IsValid() && (p.addrs[key(a)].dev != d || p.addrs[key(a)].st != stQuarantined) {
				t.Fatalf("step %d (%s): quarantine index %v of %d stale", step, op, a, d)
			}
		}
	}
}
