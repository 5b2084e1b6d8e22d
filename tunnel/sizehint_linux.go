package tunnel

import (
	"net/netip"
	"sync"
	"time"
)

// EMSGSIZE as a hint. The shared socket sets Don't Fragment
// (pmtudisc_linux.go), so the kernel refuses a datagram larger than the
// path MTU it knows toward the destination: the local link's MTU, or a
// smaller one an ICMP "fragmentation needed" / "packet too big" taught
// it. When that happens to WireGuard data, the Bind queues a hint; the
// Device reads the kernel's path MTU toward the peer's endpoint
// (kernelPathMTU) and lowers the limit of every peer at that endpoint to
// what it carries (SetPeerMTU's limit, never raised here), so that the
// TUN filter clamps and answers inner senders with ICMP and data stops
// being dropped before QUIC's path MTU discovery concludes. The control
// side's results (ha, mnode) replace the limit as they come, as a
// SetPeerMTU does; when they are above the kernel's value the next
// refusal lowers it again.
//
// At most one hint per endpoint per sizeHintInterval is queued, at most
// sizeHintQueue wait (more are dropped), and one goroutine of the Device
// handles them, so the send path never blocks on it. SendStats.Hints
// counts the limits lowered; each one is logged, which the interval
// bounds.

// sizeHintInterval is the least time between two hints about the same
// endpoint.
const sizeHintInterval = time.Second

// sizeHintQueue is how many hints may wait for the Device.
const sizeHintQueue = 32

// sizeHint says the kernel refused a datagram to dst, sent from src (when
// valid), as too big.
type sizeHint struct {
	dst netip.AddrPort
	src netip.Addr
}

// sizeHints is the Bind's side of the hints: a rate-limited queue.
type sizeHints struct {
	c chan sizeHint

	mu   sync.Mutex
	last map[netip.AddrPort]time.Time // guarded by mu
}

func newSizeHints() *sizeHints {
	return &sizeHints{c: make(chan sizeHint, sizeHintQueue), last: make(map[netip.AddrPort]time.Time)}
}

// note queues a hint about dst unless one was queued less than
// sizeHintInterval ago or the queue is full. It never blocks.
func (h *sizeHints) note(dst netip.AddrPort, src netip.Addr) {
	now := time.Now()
	h.mu.Lock()
	if t, ok := h.last[dst]; ok && now.Sub(t) < sizeHintInterval {
		h.mu.Unlock()
		return
	}
	if len(h.last) >= 1024 {
		clear(h.last)
	}
	h.last[dst] = now
	h.mu.Unlock()
	select {
	case h.c <- sizeHint{dst: dst, src: src}:
	default:
	}
}

// followSizeHints applies the Bind's hints (applySizeHint) until stop is
// closed. New starts it in a goroutine of its own; teardown stops it and
// waits for done.
func (d *Device) followSizeHints(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case h := <-d.bind.hints.c:
			d.applySizeHint(h)
		}
	}
}

// hintedMTU is the limit (SetPeerMTU's unit: inner bytes) that a path MTU
// of pmtu bytes toward an endpoint of family ipv6 allows, never below
// MinPeerMTU.
func hintedMTU(pmtu int, ipv6 bool) int {
	hdr := 20 + 8
	if ipv6 {
		hdr = 40 + 8
	}
	return max(InnerMTU(pmtu-hdr), MinPeerMTU)
}

// applySizeHint lowers the limit of the peers at h.dst to what the
// kernel's path MTU toward it allows.
func (d *Device) applySizeHint(h sizeHint) {
	d.bind.mu.Lock()
	mark := d.bind.mark
	d.bind.mu.Unlock()
	pmtu, err := kernelPathMTU(d.netns, h.dst, h.src, mark)
	if err != nil {
		d.log.Debug("no path MTU for a refused datagram", "peer", h.dst, "err", err)
		return
	}
	limit := hintedMTU(pmtu, h.dst.Addr().Unmap().Is6())

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || limit >= d.mtu {
		return
	}
	s, err := d.wg.IpcGet()
	if err != nil {
		return
	}
	ps, err := parsePeersUAPI(s)
	if err != nil {
		return
	}
	changed := false
	for _, p := range ps {
		if p.Endpoint != h.dst {
			continue
		}
		if cur := d.routes.mtus[p.PublicKey]; cur != 0 && cur <= limit {
			continue
		}
		prev := d.routes.mtus[p.PublicKey]
		d.routes.setMTU(p.PublicKey, limit)
		d.bind.sendHints.Add(1)
		changed = true
		d.log.Info("path MTU lowered: the kernel refused a datagram as too big", "peer", p.PublicKey, "endpoint", h.dst, "path_mtu", pmtu, "mtu", limit, "was", prev)
	}
	if changed {
		d.mtuf.setTable(d.routes.table())
	}
}
