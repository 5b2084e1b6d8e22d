package binding

import (
	"math/rand/v2"
	"testing"
)

// TestExpiryHeapRandom checks the heap invariant and the records' indexes
// after random pushes, changes and removals.
func TestExpiryHeapRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h expiryHeap
	var live []*record
	check := func() {
		t.Helper()
		for i, it := range h {
			if int(it.r.heapIdx) != i {
				t.Fatalf("record at %d has index %d", i, it.r.heapIdx)
			}
			if i > 0 && h[(i-1)/2].expires > it.expires {
				t.Fatalf("heap order broken at %d", i)
			}
		}
		if len(h) != len(live) {
			t.Fatalf("heap has %d, want %d", len(h), len(live))
		}
	}
	for range 5000 {
		switch op := rng.IntN(3); {
		case op == 0 || len(live) == 0:
			r := &record{}
			h.push(r, rng.Int64N(1000))
			live = append(live, r)
		case op == 1:
			r := live[rng.IntN(len(live))]
			h.set(r, rng.Int64N(1000))
			if h.expiry(r) != h[r.heapIdx].expires {
				t.Fatal("expiry mismatch")
			}
		default:
			i := rng.IntN(len(live))
			h.remove(live[i])
			if live[i].heapIdx != -1 {
				t.Fatal("removed record keeps an index")
			}
			live = append(live[:i], live[i+1:]...)
		}
		check()
	}
	// Popping everything yields non-decreasing times.
	last := int64(-1)
	for len(h) > 0 {
		if h[0].expires < last {
			t.Fatal("pop order")
		}
		last = h[0].expires
		h.remove(h[0].r)
	}
}
