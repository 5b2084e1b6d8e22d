package pool

import (
	"container/heap"
	"net/netip"
)

// qItem is one quarantine in the expiry heap. Items go stale when the
// address is taken or re-quarantined; they are checked against the entry
// when popped.
type qItem struct {
	addr  netip.Addr
	until int64
}

// qHeap orders quarantined addresses by expiry, oldest first.
type qHeap []qItem

func (h qHeap) Len() int { return len(h) }
func (h qHeap) Less(i, j int) bool {
	if h[i].until != h[j].until {
		return h[i].until < h[j].until
	}
	return h[i].addr.Less(h[j].addr)
}
func (h qHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *qHeap) Push(x any)   { *h = append(*h, x.(qItem)) }
func (h *qHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// liveLocked reports whether the item still describes a quarantine.
func (p *Pool) liveLocked(it qItem) (entry, bool) {
	e, ok := p.addrs[key(it.addr)]
	return e, ok && e.st == stQuarantined && p.until[key(it.addr)] == it.until
}

// expireLocked frees every quarantined address whose time is over and
// drops stale heap items at the top.
func (p *Pool) expireLocked(now int64) {
	for fi := range p.qheap {
		h := &p.qheap[fi]
		for h.Len() > 0 {
			it := (*h)[0]
			e, live := p.liveLocked(it)
			if live && it.until > now {
				break
			}
			heap.Pop(h)
			if live {
				clearIndex(p.quar, e.dev, fi, it.addr)
				p.setLocked(it.addr, entry{})
			}
		}
	}
}

// oldestQuarantinedLocked returns the quarantined address of a family with
// the earliest expiry (the oldest release).
func (p *Pool) oldestQuarantinedLocked(fi int) (netip.Addr, bool) {
	h := &p.qheap[fi]
	for h.Len() > 0 {
		it := (*h)[0]
		if _, live := p.liveLocked(it); live {
			return it.addr, true
		}
		heap.Pop(h)
	}
	return netip.Addr{}, false
}
