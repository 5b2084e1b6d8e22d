package binding

// expiryHeap is a binary min-heap of expiry times, one per shard. Expire
// looks only at its head, so expiring k bindings costs O(k log n), never a
// scan of all bindings.
//
// It is lazy: a refresh that extends a binding's lifetime — nearly every
// binding update — only writes the record's own expiry time and leaves
// the heap alone; when the stale item reaches the head, Expire sees the
// later time and re-queues it. A refresh that shortens the lifetime, and
// removing a binding, bump the record's generation, which turns its items
// already queued into garbage that Expire discards when they come due.
// So every live record has exactly one current item, whose time is at or
// before the record's expiry, and a binding update costs no heap work in
// the common case (sifting a refreshed binding down through a heap of
// thousands would be a cache miss per level). The shard's lock guards it.
type expiryHeap []heapItem

type heapItem struct {
	expires int64 // Unix nanoseconds
	r       *record
	gen     uint32 // current while equal to r.gen
}

func (h expiryHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[i].expires >= h[p].expires {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (h expiryHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && h[r].expires < h[l].expires {
			j = r
		}
		if h[j].expires >= h[i].expires {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

// push queues an item for r at its current generation.
func (h *expiryHeap) push(r *record, expires int64) {
	*h = append(*h, heapItem{expires: expires, r: r, gen: r.gen})
	h.up(len(*h) - 1)
}

// pop removes the head.
func (h *expiryHeap) pop() {
	old := *h
	last := len(old) - 1
	old[0] = old[last]
	old[last] = heapItem{}
	*h = old[:last]
	h.down(0)
}

// requeueTop moves the head to a later time.
func (h expiryHeap) requeueTop(expires int64) {
	h[0].expires = expires
	h.down(0)
}
