package binding

// expiryHeap is a binary min-heap of records by expiry time. Each record
// knows its index (heapIdx) so a refresh re-sorts it in O(log n) and the
// sweep looks only at the head: expiring k bindings costs O(k log n),
// never a scan of all bindings. The shard's lock guards it.
type expiryHeap []*record

func (h expiryHeap) less(i, j int) bool { return h[i].expires < h[j].expires }

func (h expiryHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = int32(i)
	h[j].heapIdx = int32(j)
}

func (h expiryHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
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
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}

func (h *expiryHeap) push(r *record) {
	r.heapIdx = int32(len(*h))
	*h = append(*h, r)
	h.up(len(*h) - 1)
}

// fix restores the order after r.expires changed.
func (h expiryHeap) fix(r *record) {
	i := int(r.heapIdx)
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
	(*h)[last] = nil
	*h = (*h)[:last]
	if i != last {
		h.fix((*h)[i])
	}
	r.heapIdx = -1
}
