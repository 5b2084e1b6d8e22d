package binding

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var (
	t0       = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	wifiAddr = netip.MustParseAddrPort("198.51.100.10:40000")
	wifi2    = netip.MustParseAddrPort("198.51.100.99:40001")
	cellAddr = netip.MustParseAddrPort("[2001:db8:c::5]:50000")
)

const (
	bidWiFi = 1
	bidCell = 2
)

func wifiEntry(prio uint8) CareOf {
	return CareOf{BID: bidWiFi, Kind: KindWiFi, Priority: prio, Local: netip.MustParseAddrPort("192.168.1.20:51830")}
}

func cellEntry(prio uint8) CareOf {
	return CareOf{BID: bidCell, Kind: KindCellular, Priority: prio, Local: netip.MustParseAddrPort("100.64.7.7:51830")}
}

func update(seq uint16, via uint16, entries ...CareOf) *BindingUpdate {
	return &BindingUpdate{Sequence: seq, Flags: FlagHome | FlagAck, Lifetime: time.Minute, Via: via, Entries: entries}
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

func kinds(es []Event) []EventKind {
	var k []EventKind
	for _, e := range es {
		k = append(k, e.Kind)
	}
	return k
}

// recCache is a Cache whose Apply, Remove and Expire record the events
// they return, as a caller acting on them would see them.
type recCache struct {
	*Cache
	rec *recorder
}

func (c recCache) Apply(now time.Time, dev string, bu *BindingUpdate, obs netip.AddrPort) (BindingAck, error) {
	var ack BindingAck
	ev, err := c.Cache.ApplyInto(&ack, now, dev, bu, obs)
	if ev.Kind != 0 {
		c.rec.add(ev)
	}
	return ack, err
}

func (c recCache) Remove(now time.Time, dev string) bool {
	ev, ok := c.Cache.Remove(now, dev)
	if ok {
		if ev.Kind != EventRemoved || ev.Device != dev {
			panic(fmt.Sprintf("Remove returned %+v", ev))
		}
		c.rec.add(ev)
	}
	return ok
}

func (c recCache) Expire(now time.Time) int {
	evs := c.Cache.Expire(now, nil)
	for _, ev := range evs {
		c.rec.add(ev)
	}
	return len(evs)
}

func newTestCache(t *testing.T, cfg Config) (recCache, *recorder) {
	t.Helper()
	rec := &recorder{}
	return recCache{NewCache(cfg), rec}, rec
}

func mustApply(t *testing.T, c recCache, now time.Time, dev string, bu *BindingUpdate, obs netip.AddrPort) BindingAck {
	t.Helper()
	ack, err := c.Apply(now, dev, bu, obs)
	if err != nil {
		t.Fatalf("Apply(seq %d): %v", bu.Sequence, err)
	}
	return ack
}

func TestApplyStatuses(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		prepare []*BindingUpdate // applied to "dev" first, must succeed
		dev     string
		bu      *BindingUpdate
		obs     netip.AddrPort
		status  Status
		seq     uint16 // expected ack sequence
		life    time.Duration
	}{
		{name: "accepted", dev: "dev", bu: update(1, bidWiFi, wifiEntry(1)), obs: wifiAddr, status: StatusAccepted, seq: 1, life: time.Minute},
		{name: "lifetime shortened", cfg: Config{MaxLifetime: 30 * time.Second}, dev: "dev", bu: update(1, bidWiFi, wifiEntry(1)), obs: wifiAddr, status: StatusLifetimeShortened, seq: 1, life: 30 * time.Second},
		{name: "malformed: no device", dev: "", bu: update(1, bidWiFi, wifiEntry(1)), obs: wifiAddr, status: StatusMalformed, seq: 1},
		{name: "malformed: no observed address", dev: "dev", bu: update(1, bidWiFi, wifiEntry(1)), status: StatusMalformed, seq: 1},
		{name: "malformed: via not listed", dev: "dev", bu: update(1, bidCell, wifiEntry(1)), obs: wifiAddr, status: StatusMalformed, seq: 1},
		{name: "malformed: via removed", dev: "dev", bu: update(1, bidWiFi, CareOf{BID: bidWiFi, Flags: EntryRemove}), obs: wifiAddr, status: StatusMalformed, seq: 1},
		{name: "malformed: duplicate bid", dev: "dev", bu: update(1, bidWiFi, wifiEntry(1), wifiEntry(2)), obs: wifiAddr, status: StatusMalformed, seq: 1},
		{name: "malformed: negative lifetime", dev: "dev", bu: &BindingUpdate{Sequence: 1, Lifetime: -1, Via: 1, Entries: []CareOf{wifiEntry(1)}}, obs: wifiAddr, status: StatusMalformed, seq: 1},
		{name: "stale sequence", prepare: []*BindingUpdate{update(15, bidWiFi, wifiEntry(1))}, dev: "dev", bu: update(14, bidWiFi, wifiEntry(1)), obs: wifiAddr, status: StatusStaleSequence, seq: 15},
		{name: "replayed sequence", prepare: []*BindingUpdate{update(15, bidWiFi, wifiEntry(1))}, dev: "dev", bu: update(15, bidWiFi, wifiEntry(1)), obs: wifiAddr, status: StatusStaleSequence, seq: 15},
		{name: "too many care-of", cfg: Config{MaxCareOf: 1}, dev: "dev", bu: update(1, bidWiFi, wifiEntry(1), cellEntry(1)), obs: wifiAddr, status: StatusTooManyCareOf, seq: 1},
		{name: "too many care-of with existing", cfg: Config{MaxCareOf: 1}, prepare: []*BindingUpdate{update(1, bidWiFi, wifiEntry(1))}, dev: "dev", bu: update(2, bidCell, cellEntry(1)), obs: cellAddr, status: StatusTooManyCareOf, seq: 2},
		{name: "too many on the wire", dev: "dev", bu: update(1, 0, make([]CareOf, MaxCareOfEntries+1)...), obs: wifiAddr, status: StatusMalformed, seq: 1}, // duplicate bids
		{name: "deregister unknown binding", dev: "dev", bu: &BindingUpdate{Sequence: 3}, obs: wifiAddr, status: StatusAccepted, seq: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := newTestCache(t, tc.cfg)
			for _, p := range tc.prepare {
				mustApply(t, c, t0, "dev", p, wifiAddr)
			}
			before, hadBefore := c.Lookup(tc.dev)
			rec.take()
			ack, err := c.Apply(t0, tc.dev, tc.bu, tc.obs)
			if ack.Status != tc.status {
				t.Fatalf("ack status = %v, want %v (err %v)", ack.Status, tc.status, err)
			}
			if ack.Sequence != tc.seq {
				t.Errorf("ack sequence = %d, want %d", ack.Sequence, tc.seq)
			}
			if ack.Lifetime != tc.life {
				t.Errorf("ack lifetime = %v, want %v", ack.Lifetime, tc.life)
			}
			if tc.status.OK() {
				if err != nil {
					t.Fatalf("err = %v on success", err)
				}
				return
			}
			var be *Error
			if !errors.As(err, &be) || be.Status != tc.status {
				t.Fatalf("err = %v, want *Error with %v", err, tc.status)
			}
			if !errors.Is(err, &Error{Status: tc.status}) {
				t.Errorf("errors.Is by status failed for %v", err)
			}
			if len(ack.Entries) != 0 {
				t.Errorf("rejecting ack lists entries %v", ack.Entries)
			}
			after, hasAfter := c.Lookup(tc.dev)
			if hadBefore != hasAfter || !reflect.DeepEqual(before, after) {
				t.Errorf("rejected update changed the cache:\nbefore %+v\nafter  %+v", before, after)
			}
			if ev := rec.take(); len(ev) != 0 {
				t.Errorf("rejected update emitted %v", ev)
			}
		})
	}
}

// TestApplyRFCSequenceVectors runs the RFC 6275 §9.5.1 example through
// the cache, and shows a restarted device resynchronising in one round
// trip from the stale ack.
func TestApplyRFCSequenceVectors(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	mustApply(t, c, t0, "d", update(15, bidWiFi, wifiEntry(1)), wifiAddr)
	for _, seq := range []uint16{14, 32783} {
		ack, err := c.Apply(t0, "d", update(seq, bidWiFi, wifiEntry(1)), wifiAddr)
		if !errors.Is(err, ErrStaleSequence) || ack.Sequence != 15 {
			t.Fatalf("seq %d: ack %+v err %v, want stale with current 15", seq, ack, err)
		}
		var be *Error
		if errors.As(err, &be); be.Sequence != 15 {
			t.Fatalf("error sequence = %d", be.Sequence)
		}
	}
	mustApply(t, c, t0, "d", update(32782, bidWiFi, wifiEntry(1)), wifiAddr)

	// A device that restarted and begins at 0 while the cache holds 100
	// is stale; the ack tells it where to continue, in one round trip.
	c1, _ := newTestCache(t, Config{})
	mustApply(t, c1, t0, "d", update(100, bidWiFi, wifiEntry(1)), wifiAddr)
	ack, _ := c1.Apply(t0, "d", update(0, bidWiFi, wifiEntry(1)), wifiAddr)
	if ack.Status != StatusStaleSequence || ack.Sequence != 100 {
		t.Fatalf("restart update: %+v", ack)
	}
	ack = mustApply(t, c1, t0, "d", update(ack.Sequence+1, bidWiFi, wifiEntry(1)), wifiAddr)
	if ack.Sequence != 101 {
		t.Fatalf("resync ack sequence = %d", ack.Sequence)
	}
	// Wrap-around through 65535.
	c2, _ := newTestCache(t, Config{})
	mustApply(t, c2, t0, "d", update(65535, bidWiFi, wifiEntry(1)), wifiAddr)
	mustApply(t, c2, t0, "d", update(0, bidWiFi, wifiEntry(1)), wifiAddr)
	if _, err := c2.Apply(t0, "d", update(65535, bidWiFi, wifiEntry(1)), wifiAddr); !errors.Is(err, ErrStaleSequence) {
		t.Fatalf("65535 after 0: %v", err)
	}
}

func TestPrimaryAndEvents(t *testing.T) {
	c, rec := newTestCache(t, Config{})
	now := t0

	// First update over Wi-Fi: Added, pointing at the observed address.
	ack := mustApply(t, c, now, "d", update(1, bidWiFi, wifiEntry(10)), wifiAddr)
	if want := []EntryStatus{{BID: bidWiFi, Flags: EntryPrimary | EntryObserved}}; !reflect.DeepEqual(ack.Entries, want) {
		t.Fatalf("ack entries %+v", ack.Entries)
	}
	if ack.Observed != wifiAddr {
		t.Fatalf("ack observed %v", ack.Observed)
	}
	ev := rec.take()
	if len(ev) != 1 || ev[0].Kind != EventAdded || ev[0].Endpoint != wifiAddr || ev[0].PrimaryBID != bidWiFi || ev[0].Device != "d" || !ev[0].Time.Equal(now) {
		t.Fatalf("events %+v", ev)
	}

	// Cellular comes up with lower priority, update sent over cellular:
	// Wi-Fi stays primary, cellular is a standby path; no event.
	now = now.Add(time.Second)
	ack = mustApply(t, c, now, "d", update(2, bidCell, cellEntry(5)), cellAddr)
	if ev := rec.take(); len(ev) != 0 {
		t.Fatalf("standby added emitted %+v", ev)
	}
	if len(ack.Entries) != 2 || ack.Entries[0].Flags != EntryPrimary|EntryObserved || ack.Entries[1].Flags != EntryObserved {
		t.Fatalf("ack entries %+v", ack.Entries)
	}
	b, _ := c.Lookup("d")
	if b.Primary != wifiAddr || b.PrimaryBID != bidWiFi || len(b.Entries) != 2 || b.Entries[1].Observed != cellAddr || !b.Entries[1].LastSeen.Equal(now) {
		t.Fatalf("binding %+v", b)
	}

	// Wi-Fi address changes behind NAT (same path): Moved.
	now = now.Add(time.Second)
	mustApply(t, c, now, "d", update(3, bidWiFi, wifiEntry(10)), wifi2)
	ev = rec.take()
	if len(ev) != 1 || ev[0].Kind != EventMoved || ev[0].Endpoint != wifi2 || ev[0].Previous != wifiAddr {
		t.Fatalf("events %+v", ev)
	}

	// Wi-Fi is lost: the device removes it over cellular: PrimaryChanged
	// to the standby path without a new handshake.
	now = now.Add(time.Second)
	ack = mustApply(t, c, now, "d", update(4, bidCell, cellEntry(5), CareOf{BID: bidWiFi, Flags: EntryRemove}), cellAddr)
	ev = rec.take()
	if len(ev) != 1 || ev[0].Kind != EventPrimaryChanged || ev[0].Endpoint != cellAddr || ev[0].PrimaryBID != bidCell || ev[0].Previous != wifi2 {
		t.Fatalf("events %+v", ev)
	}
	if len(ack.Entries) != 1 || ack.Entries[0].BID != bidCell {
		t.Fatalf("ack entries %+v", ack.Entries)
	}

	// Equal priorities: the path seen most recently wins.
	now = now.Add(time.Second)
	mustApply(t, c, now, "d", update(5, bidWiFi, wifiEntry(5)), wifiAddr)
	ev = rec.take()
	if len(ev) != 1 || ev[0].Kind != EventPrimaryChanged || ev[0].Endpoint != wifiAddr {
		t.Fatalf("events %+v", ev)
	}

	// Priority lifts cellular back, announced over Wi-Fi.
	now = now.Add(time.Second)
	mustApply(t, c, now, "d", update(6, bidWiFi, wifiEntry(5), cellEntry(9)), wifiAddr)
	ev = rec.take()
	if len(ev) != 1 || ev[0].Kind != EventPrimaryChanged || ev[0].Endpoint != cellAddr {
		t.Fatalf("events %+v", ev)
	}

	// Deregistration: Removed.
	ack = mustApply(t, c, now, "d", &BindingUpdate{Sequence: 7, Flags: FlagDeregister, Lifetime: time.Minute}, wifiAddr)
	if ack.Lifetime != 0 || ack.Status != StatusAccepted {
		t.Fatalf("dereg ack %+v", ack)
	}
	ev = rec.take()
	if len(ev) != 1 || ev[0].Kind != EventRemoved || ev[0].Previous != cellAddr {
		t.Fatalf("events %+v", ev)
	}
	if _, ok := c.Lookup("d"); ok {
		t.Fatal("binding survived deregistration")
	}
}

func TestStandbyNeverSeenIsNotPrimary(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	// Cellular announced with a higher priority but never seen: Wi-Fi
	// carries traffic.
	ack := mustApply(t, c, t0, "d", update(1, bidWiFi, wifiEntry(1), cellEntry(200)), wifiAddr)
	if ack.Entries[0].Flags != EntryPrimary|EntryObserved || ack.Entries[1].Flags != 0 {
		t.Fatalf("ack entries %+v", ack.Entries)
	}
}

func TestOverwrite(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	mustApply(t, c, t0, "d", update(1, bidWiFi, wifiEntry(1), cellEntry(1), CareOf{BID: 3}), wifiAddr)
	bu := update(2, bidCell, cellEntry(1))
	bu.Flags |= FlagOverwrite
	mustApply(t, c, t0, "d", bu, cellAddr)
	b, _ := c.Lookup("d")
	if len(b.Entries) != 1 || b.Entries[0].BID != bidCell || b.Primary != cellAddr {
		t.Fatalf("binding %+v", b)
	}
	// Overwrite also lets a full device replace its set.
	c2, _ := newTestCache(t, Config{MaxCareOf: 1})
	mustApply(t, c2, t0, "d", update(1, bidWiFi, wifiEntry(1)), wifiAddr)
	mustApply(t, c2, t0, "d", bu, cellAddr)
}

func TestLifetimeZeroDeregisters(t *testing.T) {
	c, rec := newTestCache(t, Config{})
	mustApply(t, c, t0, "d", update(1, bidWiFi, wifiEntry(1)), wifiAddr)
	rec.take()
	mustApply(t, c, t0, "d", &BindingUpdate{Sequence: 2}, wifiAddr)
	if ev := rec.take(); len(ev) != 1 || ev[0].Kind != EventRemoved {
		t.Fatalf("events %+v", ev)
	}
	if c.Len() != 0 {
		t.Fatal("binding left")
	}
	// A deregistration with an old sequence number is stale.
	mustApply(t, c, t0, "d", update(10, bidWiFi, wifiEntry(1)), wifiAddr)
	if _, err := c.Apply(t0, "d", &BindingUpdate{Sequence: 9}, wifiAddr); !errors.Is(err, ErrStaleSequence) {
		t.Fatalf("stale deregistration: %v", err)
	}
}

func TestLimiterRefills(t *testing.T) {
	l := NewLimiter(2, 3)
	var tat, other int64
	for i := range 3 {
		if !l.Allow(&tat, t0) {
			t.Fatalf("burst message %d refused", i)
		}
	}
	if l.Ready(tat, t0) || l.Allow(&tat, t0) {
		t.Fatal("4th message allowed")
	}
	if !l.Ready(tat, t0.Add(500*time.Millisecond)) {
		t.Fatal("not ready after the refill")
	}
	if l.Allow(&tat, t0.Add(400*time.Millisecond)) {
		t.Fatal("allowed before the refill")
	}
	if !l.Allow(&tat, t0.Add(500*time.Millisecond)) {
		t.Fatal("refused after the refill")
	}
	// A clock stepped back does not leave the bucket empty for as long.
	stepped := tat
	if !l.Allow(&stepped, t0.Add(-time.Hour)) {
		t.Fatal("refused after the clock was stepped back")
	}
	// Another bucket is not affected.
	if !l.Allow(&other, t0) {
		t.Fatal("another bucket refused")
	}
	// A negative rate, and the zero Limiter, allow everything.
	for _, l := range []Limiter{NewLimiter(-1, 0), {}} {
		var tat int64
		for i := range 100 {
			if !l.Allow(&tat, t0) {
				t.Fatalf("message %d refused by %+v", i, l)
			}
		}
	}
	// Defaults: DefaultUpdateBurst at once.
	d := NewLimiter(0, 0)
	tat = 0
	for i := range DefaultUpdateBurst {
		if !d.Allow(&tat, t0) {
			t.Fatalf("default burst message %d refused", i)
		}
	}
	if d.Allow(&tat, t0) {
		t.Fatal("default burst exceeded")
	}
}

func TestExpiry(t *testing.T) {
	c, rec := newTestCache(t, Config{})
	for i := range 10 {
		bu := update(1, bidWiFi, wifiEntry(1))
		bu.Lifetime = time.Duration(10-i) * time.Second // d0 lives longest
		mustApply(t, c, t0, fmt.Sprintf("d%d", i), bu, wifiAddr)
	}
	rec.take()
	if next, ok := c.NextExpiry(); !ok || !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("NextExpiry = %v %v", next, ok)
	}
	if n := c.Expire(t0.Add(999 * time.Millisecond)); n != 0 {
		t.Fatalf("expired %d early", n)
	}
	if n := c.Expire(t0.Add(3 * time.Second)); n != 3 {
		t.Fatalf("expired %d, want 3", n)
	}
	ev := rec.take()
	want := map[string]bool{"d9": true, "d8": true, "d7": true}
	for i, e := range ev {
		if e.Kind != EventExpired || !want[e.Device] || e.Previous != wifiAddr {
			t.Fatalf("event %d: %+v", i, e)
		}
		delete(want, e.Device)
	}
	// A refresh moves the expiry.
	bu := update(2, bidWiFi, wifiEntry(1))
	bu.Lifetime = time.Hour
	mustApply(t, c, t0.Add(3*time.Second), "d6", bu, wifiAddr)
	if n := c.Expire(t0.Add(10 * time.Second)); n != 6 {
		t.Fatalf("expired %d, want 6", n)
	}
	if _, ok := c.Lookup("d6"); !ok || c.Len() != 1 {
		t.Fatalf("refreshed binding expired; len %d", c.Len())
	}
	// An expired device starts afresh: any sequence number is accepted.
	mustApply(t, c, t0.Add(11*time.Second), "d0", update(500, bidWiFi, wifiEntry(1)), wifiAddr)
	if ev := rec.take(); ev[len(ev)-1].Kind != EventAdded {
		t.Fatalf("events %+v", ev)
	}
	if n := c.Expire(t0.Add(2 * time.Hour)); n != 2 || c.Len() != 0 {
		t.Fatalf("expired %d, len %d", n, c.Len())
	}
	if _, ok := c.NextExpiry(); ok {
		t.Fatal("NextExpiry on an empty cache")
	}
}

func TestRemove(t *testing.T) {
	c, rec := newTestCache(t, Config{})
	mustApply(t, c, t0, "d", update(1, bidWiFi, wifiEntry(1)), wifiAddr)
	rec.take()
	if !c.Remove(t0, "d") || c.Remove(t0, "d") {
		t.Fatal("Remove result")
	}
	if ev := rec.take(); len(ev) != 1 || ev[0].Kind != EventRemoved {
		t.Fatalf("events %+v", ev)
	}
	if c.Expire(t0.Add(time.Hour)) != 0 {
		t.Fatal("removed binding still in the expiry heap")
	}
}

func TestRange(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	for i := range 100 {
		mustApply(t, c, t0, fmt.Sprintf("d%d", i), update(1, bidWiFi, wifiEntry(1)), wifiAddr)
	}
	seen := map[string]bool{}
	c.Range(func(b Binding) bool { seen[b.Device] = true; return true })
	if len(seen) != 100 {
		t.Fatalf("Range saw %d", len(seen))
	}
	n := 0
	c.Range(func(Binding) bool { n++; return n < 5 })
	if n != 5 {
		t.Fatalf("Range did not stop: %d", n)
	}
}

func TestRunExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, rec := newTestCache(t, Config{SweepInterval: 500 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()

		bu := update(1, bidWiFi, wifiEntry(1))
		bu.Lifetime = 5 * time.Second
		mustApply(t, c, time.Now(), "d", bu, wifiAddr)
		time.Sleep(4900 * time.Millisecond) // fake time inside the bubble
		synctest.Wait()
		if c.Len() != 1 {
			t.Fatal("expired early")
		}
		time.Sleep(600 * time.Millisecond)
		synctest.Wait()
		if c.Len() != 0 {
			t.Fatal("not expired after lifetime + sweep interval")
		}
		// Run discards the expiry: only the addition was seen.
		if ev := rec.take(); len(ev) != 1 || ev[0].Kind != EventAdded {
			t.Fatalf("events %+v", ev)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
	})
}

// TestConcurrentApply hammers the cache from many goroutines and checks
// that every event returned describes the update that caused it.
func TestConcurrentApply(t *testing.T) {
	var mu sync.Mutex
	bad := 0
	c := NewCache(Config{})
	const workers, devices, rounds = 8, 32, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for d := range devices {
					dev := fmt.Sprintf("d%d", d)
					seq := uint16(r*workers + w + 1)
					obs := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(w)}), uint16(r))
					var ack BindingAck
					ev, err := c.ApplyInto(&ack, t0, dev, update(seq, bidWiFi, wifiEntry(1)), obs)
					if err == nil && ev.Kind != 0 && (ev.Device != dev || ev.Sequence != seq || ev.Endpoint != obs) {
						mu.Lock()
						bad++
						mu.Unlock()
					}
					if r%50 == 0 {
						c.Lookup(dev)
						c.Expire(t0, nil)
					}
				}
			}
		}()
	}
	wg.Wait()
	if bad != 0 {
		t.Fatalf("%d events describe another update", bad)
	}
	if c.Len() != devices {
		t.Fatalf("len %d", c.Len())
	}
}

func TestApplyIntoDoesNotAllocate(t *testing.T) {
	c := NewCache(Config{})
	bu := update(1, bidWiFi, wifiEntry(1), cellEntry(2))
	var ack BindingAck
	if _, err := c.ApplyInto(&ack, t0, "d", bu, wifiAddr); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		bu.Sequence++
		if _, err := c.ApplyInto(&ack, t0, "d", bu, wifiAddr); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ApplyInto allocated %.1f times", allocs)
	}
}
