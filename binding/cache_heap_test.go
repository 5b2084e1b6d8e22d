package binding

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestExpiryHeapOrder pushes random times and pops them in order.
func TestExpiryHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h expiryHeap
	var want []int64
	for range 2000 {
		e := rng.Int64N(1000)
		h.push(&record{}, e)
		want = append(want, e)
		if rng.IntN(4) == 0 {
			// move the head later, as Expire does for a refreshed record
			e := h[0].expires + rng.Int64N(100)
			i := slices.Index(want, h[0].expires)
			want[i] = e
			h.requeueTop(e)
		}
	}
	slices.Sort(want)
	for i, w := range want {
		if h[0].expires != w {
			t.Fatalf("pop %d: %d, want %d", i, h[0].expires, w)
		}
		h.pop()
	}
	if len(h) != 0 {
		t.Fatal("items left")
	}
}

// TestExpiryLazyHeap exercises the cases the lazy heap must get right:
// extended, shortened, removed and re-added bindings.
func TestExpiryLazyHeap(t *testing.T) {
	c, rec := newTestCache(t, Config{})
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	bu := func(seq uint16, life int) *BindingUpdate {
		u := update(seq, bidWiFi, wifiEntry(1))
		u.Lifetime = time.Duration(life) * time.Second
		return u
	}
	// Extended twice: expires at the last time only.
	mustApply(t, c, at(0), "ext", bu(1, 10), wifiAddr)
	mustApply(t, c, at(5), "ext", bu(2, 10), wifiAddr)
	mustApply(t, c, at(9), "ext", bu(3, 10), wifiAddr)
	// Shortened: 100 s, then 10 s, then extended to 50 s from t=5.
	mustApply(t, c, at(0), "short", bu(1, 100), wifiAddr)
	mustApply(t, c, at(0), "short", bu(2, 10), wifiAddr)
	mustApply(t, c, at(5), "short", bu(3, 50), wifiAddr)
	// Removed, then added again with a longer lifetime: the old item must
	// not expire the new binding.
	mustApply(t, c, at(0), "readd", bu(1, 10), wifiAddr)
	c.Remove(at(1), "readd")
	mustApply(t, c, at(2), "readd", bu(1, 30), wifiAddr)
	rec.take()

	expired := func(sec int) []string {
		c.Expire(at(sec))
		var ds []string
		for _, e := range rec.take() {
			if e.Kind != EventExpired {
				t.Fatalf("unexpected event %+v", e)
			}
			ds = append(ds, e.Device)
		}
		slices.Sort(ds)
		return ds
	}
	steps := []struct {
		sec  int
		want []string
	}{
		{10, nil},
		{18, nil},
		{19, []string{"ext"}},
		{31, nil},
		{32, []string{"readd"}},
		{54, nil},
		{55, []string{"short"}},
		{1000, nil},
	}
	for _, s := range steps {
		if got := expired(s.sec); !slices.Equal(got, s.want) {
			t.Fatalf("at %d s: expired %v, want %v", s.sec, got, s.want)
		}
		if next, ok := c.NextExpiry(); ok && next.Before(at(s.sec)) {
			t.Fatalf("at %d s: NextExpiry %v is in the past", s.sec, next)
		}
	}
	if c.Len() != 0 {
		t.Fatalf("len %d", c.Len())
	}
	for i := range c.shards {
		if n := len(c.shards[i].heap); n != 0 {
			t.Fatalf("shard %d keeps %d heap items", i, n)
		}
	}
}
