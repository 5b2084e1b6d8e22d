package binding

// expiryHeap is a binary min-heap of records by expiry time. Each record
// knows its index (heapIdx) so a refresh re-sorts it in O(log n) and the
// sweep looks only at the head: expiring k bindings costs O(k log n),
// never a scan of all bindings. The expiry time is stored in the heap
// array itself, so sifting compares without touching the records (a
// refresh sifts a binding to the bottom of a heap of thousands; following
// pointers there would be a cache miss per level). The shard's lock
// guards it.
type expiryHeap []heapItem

type heapItem struct {
	expires int64 // Unix nanoseconds
	r       *record
}

func (h expiryHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].r.heapIdx = int32(i)
	h[j].r.heapIdx = int32(j)
}

func (h expiryHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[i].expires >= h[p].expires {
			break
		}
		h.swap(i, p)
		i = p
	}
}

func (h expiryHeap) down(i int) bool {
	start := i
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h[r].expires < h[l].expires {
			j = r
		}
		if h[j].expires >= h[i].expires {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}

func (h *expiryHeap) push(r *record, expires int64) {
	r.heapIdx = int32(len(*h))
	*h = append(*h, heapItem{expires, r})
	h.up(len(*h) - 1)
}

// expiry returns r's expiry time.
func (h expiryHeap) expiry(r *record) int64 { return h[r.heapIdx].expires }

// set changes r's expiry time and restores the order.
func (h expiryHeap) set(r *record, expires int64) {
	i := int(r.heapIdx)
	h[i].expires = expires
	if !h.down(i) {
		h.up(i)
	}
}

// remove takes r out of the heap.
func (h *expiryHeap) remove(r *record) {
	i := int(r.heapIdx)
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = heapItem{}
	*h = (*h)[:last]
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
	r.heapIdx = -1
}
