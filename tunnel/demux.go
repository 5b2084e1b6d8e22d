package tunnel

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// Demultiplexing of the shared UDP socket.
//
// WireGuard messages start with a little-endian 32-bit type of 1 to 4
// (initiation, response, cookie reply, transport data), that is one byte
// 1..4 followed by three zero bytes. Every QUIC packet, long or short
// header, has the fixed bit 0x40 set in its first byte (RFC 9000 §17; the
// one exception, a Version Negotiation packet, is only sent by servers to
// clients that spoke first). No WireGuard type byte has 0x40 set, so the
// two never overlap. An idle probe (idleprobe.go) starts with
// IdleProbeKind, which is neither; it goes to the idle probe responder
// when the Device answers them. Anything else is dropped and counted.

// datagramKind says where a datagram goes.
type datagramKind uint8

const (
	kindDrop datagramKind = iota
	kindWireGuard
	kindQUIC
	kindIdleProbe
)

// classify decides where datagram b goes. It looks at the first four bytes
// at most and never fails.
func classify(b []byte) datagramKind {
	if len(b) == 0 {
		return kindDrop
	}
	if len(b) >= 4 && b[0] >= 1 && b[0] <= 4 && b[1] == 0 && b[2] == 0 && b[3] == 0 {
		return kindWireGuard
	}
	if b[0]&0x40 != 0 {
		return kindQUIC
	}
	if b[0] == IdleProbeKind {
		return kindIdleProbe
	}
	return kindDrop
}

// DemuxStats counts the datagrams the shared socket received, by where
// they went. Every datagram is counted exactly once.
type DemuxStats struct {
	// WireGuard datagrams handed to wireguard-go.
	WireGuard uint64
	// QUIC datagrams queued for the control side (ControlConn).
	QUIC uint64
	// IdleProbes handed to the idle probe responder.
	IdleProbes uint64
	// Dropped datagrams that were neither WireGuard nor QUIC nor an idle
	// probe the Device answers.
	Dropped uint64
	// QUICOverflow counts QUIC datagrams dropped because the control side
	// did not read fast enough (its queue was full) or was closed.
	QUICOverflow uint64
}

// Total is the number of datagrams counted.
func (s DemuxStats) Total() uint64 {
	return s.WireGuard + s.QUIC + s.IdleProbes + s.Dropped + s.QUICOverflow
}

// quicQueueLen bounds the datagrams waiting for the control side.
const quicQueueLen = 1024

// maxPooledDatagram is the capacity of pooled QUIC buffers; larger
// datagrams (never seen with QUIC's 1200..1500 byte packets) get their own.
const maxPooledDatagram = 2048

// datagram is one QUIC datagram waiting for ControlConn.ReadFrom.
type datagram struct {
	buf   *[]byte
	from  netip.AddrPort
	local netip.Addr // address it was sent to, when known
}

// demux sorts received batches and holds the QUIC queue. It is safe for
// concurrent use: several receive goroutines (IPv4, IPv6) call sort.
type demux struct {
	wireguard, quic, probes, dropped, overflow atomic.Uint64

	// probe receives idle probes (nil: they are dropped). Set before the
	// socket is opened and never changed.
	probe func(b []byte, from netip.AddrPort, local netip.Addr)

	queue chan datagram
	done  chan struct{} // closed when the control side is closed
	// activity holds one value after WireGuard datagrams were received
	// or sent (coalesced; see Device.Activity).
	activity chan struct{}
	once     sync.Once
	pool     sync.Pool
}

func newDemux() *demux {
	return &demux{
		queue:    make(chan datagram, quicQueueLen),
		done:     make(chan struct{}),
		activity: make(chan struct{}, 1),
		pool: sync.Pool{New: func() any {
			b := make([]byte, maxPooledDatagram)
			return &b
		}},
	}
}

// sort looks at the first n datagrams of a received batch. WireGuard
// datagrams stay; QUIC datagrams are copied to the queue and, like
// anything else, their size is set to zero so that wireguard-go skips them
// (it ignores elements smaller than device.MinMessageSize). from and local
// give a datagram's source and destination address; they are called only
// for QUIC datagrams. It reports how many WireGuard datagrams remain.
func (m *demux) sort(bufs [][]byte, sizes []int, n int, from func(i int) (netip.AddrPort, netip.Addr)) int {
	wg := 0
	for i := 0; i < n; i++ {
		if sizes[i] == 0 {
			continue
		}
		switch classify(bufs[i][:sizes[i]]) {
		case kindWireGuard:
			wg++
			m.wireguard.Add(1)
			continue
		case kindQUIC:
			src, dst := from(i)
			m.enqueue(bufs[i][:sizes[i]], src, dst)
		case kindIdleProbe:
			if m.probe == nil {
				m.dropped.Add(1)
				break
			}
			src, dst := from(i)
			m.probes.Add(1)
			m.probe(bufs[i][:sizes[i]], src, dst)
		default:
			m.dropped.Add(1)
		}
		sizes[i] = 0
	}
	if wg > 0 {
		m.signalActivity()
	}
	return wg
}

// signalActivity leaves a value on the activity channel unless one is
// pending. A pending value makes it a check of the buffer without a lock,
// so it costs nothing measurable per batch.
func (m *demux) signalActivity() {
	select {
	case m.activity <- struct{}{}:
	default:
	}
}

// enqueue copies a QUIC datagram to the queue, or counts it as overflow.
func (m *demux) enqueue(b []byte, from netip.AddrPort, local netip.Addr) {
	select {
	case <-m.done:
		m.overflow.Add(1)
		return
	default:
	}
	var bp *[]byte
	if len(b) <= maxPooledDatagram {
		bp = m.pool.Get().(*[]byte)
		*bp = (*bp)[:len(b)]
	} else {
		nb := make([]byte, len(b))
		bp = &nb
	}
	copy(*bp, b)
	select {
	case m.queue <- datagram{buf: bp, from: from, local: local}:
		m.quic.Add(1)
	default:
		m.release(bp)
		m.overflow.Add(1)
	}
}

// release returns a queued buffer to the pool.
func (m *demux) release(bp *[]byte) {
	if cap(*bp) == maxPooledDatagram {
		*bp = (*bp)[:maxPooledDatagram]
		m.pool.Put(bp)
	}
}

// close stops queueing; datagrams already queued are discarded.
func (m *demux) close() {
	m.once.Do(func() { close(m.done) })
}

// stats returns the counters.
func (m *demux) stats() DemuxStats {
	return DemuxStats{
		WireGuard:    m.wireguard.Load(),
		QUIC:         m.quic.Load(),
		IdleProbes:   m.probes.Load(),
		Dropped:      m.dropped.Load(),
		QUICOverflow: m.overflow.Load(),
	}
}
