package pool

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustPool(t testing.TB, text string, c *clock) *Pool {
	t.Helper()
	cfg, err := ParseConfig([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// alloc proposes and holds, as store.AssignVIPs would after a commit.
func alloc(t testing.TB, p *Pool, id string, fam Family) netip.Addr {
	t.Helper()
	a, err := p.Propose(id, fam)
	if err != nil {
		t.Fatalf("Propose(%s, %d): %v", id, fam, err)
	}
	if err := p.Hold(id, a); err != nil {
		t.Fatalf("Hold(%s, %v): %v", id, a, err)
	}
	return a
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestNeverNetworkBroadcastOrExcluded(t *testing.T) {
	p := mustPool(t, "v4 192.0.2.0/29\nv6 2001:db8::/125\nexclude 192.0.2.1 2001:db8::1", newClock())
	got := map[netip.Addr]bool{}
	for i := range 5 {
		got[alloc(t, p, fmt.Sprint("d", i), IPv4)] = true
		got[alloc(t, p, fmt.Sprint("d", i), IPv6)] = true
	}
	for _, a := range []string{"192.0.2.0", "192.0.2.1", "192.0.2.7", "2001:db8::", "2001:db8::1", "2001:db8::7"} {
		if got[addr(a)] {
			t.Errorf("handed out %s", a)
		}
	}
	if len(got) != 10 {
		t.Fatalf("handed out %d distinct addresses, want 10", len(got))
	}
	for _, fam := range []Family{IPv4, IPv6} {
		if _, err := p.Propose("late", fam); !errors.Is(err, ErrExhausted) {
			t.Fatalf("Propose on a full IPv%d pool = %v, want ErrExhausted", fam, err)
		}
	}
	if _, err := p.Propose("x", 5); !errors.Is(err, ErrNoFamily) {
		t.Fatalf("family 5: %v", err)
	}
}

func TestPointToPointPrefixes(t *testing.T) {
	p := mustPool(t, "v4 192.0.2.0/31 198.51.100.7/32", newClock())
	var got []netip.Addr
	for i := range 3 {
		got = append(got, alloc(t, p, fmt.Sprint("d", i), IPv4))
	}
	seen := map[netip.Addr]bool{}
	for _, a := range got {
		seen[a] = true
	}
	for _, a := range []string{"192.0.2.0", "192.0.2.1", "198.51.100.7"} {
		if !seen[addr(a)] {
			t.Fatalf("/31 and /32 addresses are all usable; got %v", got)
		}
	}
	if _, err := p.Propose("d9", IPv6); !errors.Is(err, ErrNoFamily) {
		t.Fatalf("no IPv6 prefix: %v", err)
	}
}

func TestStickyAndDeterministic(t *testing.T) {
	const cfg = "v4 10.77.0.0/16\nv6 fd77::/64"
	p1 := mustPool(t, cfg, newClock())
	p2 := mustPool(t, cfg, newClock())
	for i := range 50 {
		id := fmt.Sprint("device-", i)
		for _, fam := range []Family{IPv4, IPv6} {
			a := alloc(t, p1, id, fam)
			again, err := p1.Propose(id, fam)
			if err != nil || again != a {
				t.Fatalf("second proposal for %s = %v, %v; want %v", id, again, err, a)
			}
			if b := alloc(t, p2, id, fam); b != a {
				t.Fatalf("another pool gave %s %v, want the same %v", id, b, a)
			}
		}
	}
	// The IPv6 address is the identity-derived candidate 0.
	a, _ := p1.Propose("device-0", IPv6)
	if want := derive(netip.MustParsePrefix("fd77::/64"), "device-0", 0); a != want {
		t.Fatalf("IPv6 = %v, want derived %v", a, want)
	}
	if got := p1.Addrs("device-0"); len(got) != 2 || !got[0].Is4() {
		t.Fatalf("Addrs = %v", got)
	}
	if id, ok := p1.Holder(a); !ok || id != "device-0" {
		t.Fatalf("Holder(%v) = %q, %v", a, id, ok)
	}
}

func TestConcurrentProposalsDiffer(t *testing.T) {
	p := mustPool(t, "v4 10.0.0.0/24", newClock())
	// Without Hold in between, pending proposals keep callers apart.
	seen := map[netip.Addr]string{}
	for i := range 100 {
		id := fmt.Sprint("d", i)
		a, err := p.Propose(id, IPv4)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[a]; dup {
			t.Fatalf("%v proposed to %s and %s", a, prev, id)
		}
		seen[a] = id
	}
}

func TestCollisionHandling(t *testing.T) {
	// A tiny IPv6 prefix forces collisions among the hashed candidates and
	// then the linear probe; all 14 usable addresses must be found.
	p := mustPool(t, "v6 2001:db8::/124", newClock())
	seen := map[netip.Addr]bool{}
	for i := range 14 {
		a := alloc(t, p, fmt.Sprint("d", i), IPv6)
		if seen[a] {
			t.Fatalf("duplicate %v", a)
		}
		seen[a] = true
	}
	if _, err := p.Propose("d14", IPv6); !errors.Is(err, ErrExhausted) {
		t.Fatalf("want exhausted, got %v", err)
	}
}

func TestProbeSkipsLargeExclusion(t *testing.T) {
	// Half of a /64 excluded and most of the rest reachable only by the
	// probe: it must jump over the exclusion rather than walk it.
	p := mustPool(t, "v6 2001:db8::/120\nexclude 2001:db8::80/121", newClock())
	for i := range 127 { // 254 usable minus 127 excluded (the broadcast counted once)
		a := alloc(t, p, fmt.Sprint("d", i), IPv6)
		if netip.MustParsePrefix("2001:db8::80/121").Contains(a) {
			t.Fatalf("excluded %v handed out", a)
		}
	}
	if _, err := p.Propose("x", IPv6); !errors.Is(err, ErrExhausted) {
		t.Fatalf("want exhausted, got %v", err)
	}
	big := mustPool(t, "v6 2001:db8::/64\nexclude 2001:db8::/65", newClock())
	for i := range 100 {
		a := alloc(t, big, fmt.Sprint("d", i), IPv6)
		if netip.MustParsePrefix("2001:db8::/65").Contains(a) {
			t.Fatalf("excluded %v handed out", a)
		}
	}
}

func TestReservations(t *testing.T) {
	p := mustPool(t, "v4 192.0.2.0/24\nv6 2001:db8::/64\nexclude 192.0.2.1", newClock())
	a := alloc(t, p, "a", IPv4)
	for _, tc := range []struct {
		addr string
		want error
	}{
		{"198.51.100.1", ErrOutside},
		{"192.0.2.0", ErrUnusable},
		{"192.0.2.255", ErrUnusable},
		{"192.0.2.1", ErrUnusable},
		{a.String(), ErrInUse},
	} {
		err := p.CheckReservation("b", addr(tc.addr))
		if !errors.Is(err, tc.want) {
			t.Errorf("reserve %s: %v, want %v", tc.addr, err, tc.want)
		}
		if err2 := p.Reserve("b", addr(tc.addr)); !errors.Is(err2, tc.want) {
			t.Errorf("Reserve %s: %v, want %v", tc.addr, err2, tc.want)
		}
	}
	var ce *ConflictError
	if err := p.Reserve("b", a); !errors.As(err, &ce) || ce.Holder != "a" {
		t.Fatalf("conflict = %v", err)
	}
	// Reserving for a device that holds an address moves its lease.
	r := addr("192.0.2.200")
	if err := p.Reserve("a", r); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Propose("a", IPv4); got != r {
		t.Fatalf("after reserve, a proposes %v, want %v", got, r)
	}
	if id, ok := p.Holder(r); !ok || id != "a" {
		t.Fatalf("reserved address not held after the move: %q %v", id, ok)
	}
	if _, ok := p.Holder(a); ok {
		t.Fatalf("old address still held")
	}
	// A reservation for a device without a lease is proposed to it and
	// to nobody else.
	r2 := addr("192.0.2.201")
	if err := p.Reserve("c", r2); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Propose("c", IPv4); got != r2 {
		t.Fatalf("c proposes %v, want reservation %v", got, r2)
	}
	if err := p.Reserve("d", r2); !errors.As(err, &ce) || !ce.Reserved {
		t.Fatalf("reserving someone's reservation: %v", err)
	}
	if got := p.Reservations("c"); len(got) != 1 || got[0] != r2 {
		t.Fatalf("Reservations = %v", got)
	}
	p.Unreserve("c", r2)
	if len(p.Reservations("c")) != 0 {
		t.Fatal("unreserve kept the reservation")
	}
	u := usage(p, IPv4)
	if u.Leased != 1 || u.Reserved != 0 || u.Quarantined != 1 {
		t.Fatalf("usage = %+v", u)
	}
}

func usage(p *Pool, f Family) FamilyUsage {
	for _, u := range p.Utilisation() {
		if u.Family == f {
			return u
		}
	}
	return FamilyUsage{}
}

func TestQuarantine(t *testing.T) {
	c := newClock()
	p := mustPool(t, "v4 192.0.2.0/29", c) // 6 usable
	var held []netip.Addr
	for i := range 5 {
		held = append(held, alloc(t, p, fmt.Sprint("d", i), IPv4))
	}
	p.Release("d0", held[0], c.Now())
	if u := usage(p, IPv4); u.Leased != 4 || u.Quarantined != 1 {
		t.Fatalf("usage after release = %+v", u)
	}
	// The one free address goes to a newcomer, not d0's old one.
	n := alloc(t, p, "new", IPv4)
	if n == held[0] {
		t.Fatalf("quarantined %v handed to another device while free space remained", n)
	}
	// d0 comes back within the quarantine: same address.
	if got, _ := p.Propose("d0", IPv4); got != held[0] {
		t.Fatalf("returning device gets %v, want its old %v", got, held[0])
	}
	// With no free address left, the quarantined one is used rather than
	// failing.
	if got, _ := p.Propose("other", IPv4); got != held[0] {
		t.Fatalf("exhausted pool proposes %v, want the quarantined %v", got, held[0])
	}
	// After the quarantine it is free for anyone.
	c.Advance(DefaultQuarantine)
	if u := usage(p, IPv4); u.Quarantined != 0 {
		t.Fatalf("quarantine not expired: %+v", u)
	}
	if got := alloc(t, p, "other", IPv4); got != held[0] {
		t.Fatalf("after quarantine got %v", got)
	}
	// Quarantine records loaded from the store honour their release time.
	p.Release("other", held[0], c.Now().Add(-DefaultQuarantine+time.Hour))
	if u := usage(p, IPv4); u.Quarantined != 1 {
		t.Fatalf("usage = %+v", u)
	}
	c.Advance(time.Hour)
	if u := usage(p, IPv4); u.Quarantined != 0 {
		t.Fatalf("usage = %+v", u)
	}
	p.Quarantine("gone", held[0], c.Now().Add(-2*DefaultQuarantine)) // long over: ignored
	if u := usage(p, IPv4); u.Quarantined != 0 {
		t.Fatalf("expired quarantine loaded: %+v", u)
	}
}

func TestNoQuarantine(t *testing.T) {
	c := newClock()
	p := mustPool(t, "v4 192.0.2.0/30\nquarantine none", c)
	a := alloc(t, p, "a", IPv4)
	p.ForgetDevice("a", c.Now())
	if u := usage(p, IPv4); u.Used() != 0 {
		t.Fatalf("usage = %+v", u)
	}
	if got := alloc(t, p, "b", IPv4); got != a {
		// b's own derivation may differ; the point is that a is free.
		if _, ok := p.Holder(a); ok {
			t.Fatalf("released address still held")
		}
	}
}

func TestReconfigure(t *testing.T) {
	c := newClock()
	p := mustPool(t, "v4 10.0.0.0/24 10.0.1.0/24\nv6 fd00::/64", c)
	a := alloc(t, p, "a", IPv4)
	for i := 0; !netip.MustParsePrefix("10.0.1.0/24").Contains(a); i++ {
		// Make sure some device sits in the second prefix.
		a = alloc(t, p, fmt.Sprint("x", i), IPv4)
	}
	holder, _ := p.Holder(a)
	cfg := p.Config()
	cfg.V4 = cfg.V4[:1]
	err := p.Reconfigure(cfg)
	var ce *ChangeError
	if !errors.As(err, &ce) || !errors.Is(err, ErrLeasesAffected) {
		t.Fatalf("removing a used prefix: %v", err)
	}
	found := false
	for _, af := range ce.Affected {
		if af.Addr == a && af.DeviceID == holder {
			found = true
		}
	}
	if !found {
		t.Fatalf("affected list %v lacks %v (%s)", ce.Affected, a, holder)
	}
	if got := p.Config(); len(got.V4) != 2 {
		t.Fatal("refused change was applied")
	}
	// Excluding a held address is refused as well.
	cfg = p.Config()
	cfg.Exclude = append(cfg.Exclude, netip.PrefixFrom(a, 32))
	if err := p.Reconfigure(cfg); !errors.Is(err, ErrLeasesAffected) {
		t.Fatalf("excluding a held address: %v", err)
	}
	// Adding a prefix is fine and keeps every lease.
	cfg = p.Config()
	cfg.V4 = append(cfg.V4, netip.MustParsePrefix("10.0.2.0/24"))
	if err := p.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if id, ok := p.Holder(a); !ok || id != holder {
		t.Fatal("lease lost in reconfiguration")
	}
	u := usage(p, IPv4)
	if len(u.Prefixes) != 3 || u.Capacity != 3*254 {
		t.Fatalf("usage after adding = %+v", u)
	}
	// Removing the unused IPv6 prefix is fine; quarantined addresses in
	// it are forgotten.
	a6 := alloc(t, p, "v6", IPv6)
	p.Release("v6", a6, c.Now())
	cfg = p.Config()
	cfg.V6 = nil
	if err := p.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if fams := p.Families(); len(fams) != 1 || fams[0] != IPv4 {
		t.Fatalf("families = %v", fams)
	}
	if err := p.Reconfigure(Config{V4: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}); !errors.Is(err, ErrConfig) {
		t.Fatalf("invalid config: %v", err)
	}
}

func TestHoldRefusesOutside(t *testing.T) {
	p := mustPool(t, "v4 10.0.0.0/24", newClock())
	if err := p.Hold("a", addr("10.0.1.1")); !errors.Is(err, ErrOutside) {
		t.Fatal(err)
	}
	if err := p.Hold("a", addr("10.0.0.0")); !errors.Is(err, ErrUnusable) {
		t.Fatal(err)
	}
	if err := p.Hold("", addr("10.0.0.5")); !errors.Is(err, ErrInvalidID) {
		t.Fatal(err)
	}
	// The store is the truth: Hold moves an address between devices.
	if err := p.Hold("a", addr("10.0.0.5")); err != nil {
		t.Fatal(err)
	}
	if err := p.Hold("b", addr("10.0.0.5")); err != nil {
		t.Fatal(err)
	}
	if id, _ := p.Holder(addr("10.0.0.5")); id != "b" || len(p.Addrs("a")) != 0 {
		t.Fatalf("holder %q, a holds %v", id, p.Addrs("a"))
	}
	if u := usage(p, IPv4); u.Leased != 1 {
		t.Fatalf("usage %+v", u)
	}
}

func TestConcurrentUse(t *testing.T) {
	p := mustPool(t, "v4 10.0.0.0/20\nv6 fd00::/64", newClock())
	var wg sync.WaitGroup
	results := make([][]netip.Addr, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := fmt.Sprintf("g%d-%d", g, i)
				for _, fam := range []Family{IPv4, IPv6} {
					a, err := p.Propose(id, fam)
					if err != nil {
						t.Error(err)
						return
					}
					if err := p.Hold(id, a); err != nil {
						t.Error(err)
						return
					}
					results[g] = append(results[g], a)
				}
				if i%3 == 0 {
					p.Utilisation()
				}
			}
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for _, rs := range results {
		for _, a := range rs {
			if seen[a] {
				t.Fatalf("%v handed out twice", a)
			}
			seen[a] = true
		}
	}
	if u := usage(p, IPv4); u.Leased != 1600 {
		t.Fatalf("leased %d", u.Leased)
	}
}
