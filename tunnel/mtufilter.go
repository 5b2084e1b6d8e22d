package tunnel

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/tun"
)

// MTUStats counts what the per-peer MTU filter did to inner packets.
type MTUStats struct {
	// MSSClamped counts TCP SYNs and SYN-ACKs whose MSS option was
	// lowered, in either direction.
	MSSClamped uint64
	// TooBig counts packets dropped for exceeding their peer's limit
	// (IPv4 with DF, IPv6, or IPv4 that could not be fragmented).
	TooBig uint64
	// Fragmented counts IPv4 packets without DF split into fragments.
	Fragmented uint64
	// ICMPSent counts "fragmentation needed" and "packet too big" errors
	// written back to the inner sender; ICMPSuppressed those not sent
	// because of the per-source rate limit (or a failed write).
	ICMPSent, ICMPSuppressed uint64
}

const (
	// icmpInterval is the least time between two "too big" errors to the
	// same inner source.
	icmpInterval = 50 * time.Millisecond
	// icmpSources bounds the rate limiter's memory; it starts over when
	// full.
	icmpSources = 4096
	// filterLogInterval is the least time between two log lines of the
	// filter.
	filterLogInterval = 5 * time.Second
	// icmpWriteOffset is the headroom before an ICMP error written to the
	// TUN (wireguard-go's TUN needs room for its virtio-net header).
	icmpWriteOffset = 16
	// maxExtraFragments bounds the fragments a packet is split into
	// beyond the first (a 1500-byte packet at the 576 minimum needs 2).
	maxExtraFragments = 8
)

// mtuFilter is the tun.Device that wireguard-go reads from and writes to:
// it wraps the real TUN and enforces the per-peer limits (SetPeerMTU).
//
// Read (kernel → peers): a packet longer than its destination peer's
// limit is dropped and answered with ICMP (IPv4 with DF, IPv6) or
// fragmented (IPv4 without DF); TCP SYNs to a limited peer get their MSS
// clamped. Inner IPv6 is never held below 1280 bytes, IPv6's minimum
// link MTU: packets up to 1280 go to the peer whatever its limit, and the
// outer layer fragments their datagrams (see Send); their TCP MSS is
// still clamped to the limit, so TCP stays clear of that. Write
// (peers → kernel): TCP SYNs from a limited peer get their MSS clamped.
//
// wireguard-go's Linux TUN hands Read single packets: it splits TSO
// super-packets into segments no larger than the interface MTU. Errors
// are written with the TUN's own Write, which serialises with
// wireguard-go's writes (NativeTun holds a write mutex); they are rate
// limited per inner source. With no limit configured a packet costs one
// atomic load; under the smallest limit, a few compares (the SYN check).
type mtuFilter struct {
	tun.Device
	log   *slog.Logger
	table atomic.Pointer[mtuTable]

	mssClamped, tooBig, fragmented, icmpSent, icmpSuppressed atomic.Uint64

	mu      sync.Mutex // guards what follows (slow path only)
	icmpBuf []byte
	lastTo  map[netip.Addr]time.Time
	lastLog time.Time
}

func newMTUFilter(dev tun.Device, log *slog.Logger) *mtuFilter {
	return &mtuFilter{
		Device:  dev,
		log:     log,
		icmpBuf: make([]byte, icmpWriteOffset+ipv6MinMTU),
		lastTo:  make(map[netip.Addr]time.Time),
	}
}

// setTable installs a new snapshot (nil: no limits).
func (f *mtuFilter) setTable(t *mtuTable) { f.table.Store(t) }

func (f *mtuFilter) stats() MTUStats {
	return MTUStats{
		MSSClamped:     f.mssClamped.Load(),
		TooBig:         f.tooBig.Load(),
		Fragmented:     f.fragmented.Load(),
		ICMPSent:       f.icmpSent.Load(),
		ICMPSuppressed: f.icmpSuppressed.Load(),
	}
}

// Read implements tun.Device.
func (f *mtuFilter) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := f.Device.Read(bufs, sizes, offset)
	if n == 0 {
		return n, err
	}
	t := f.table.Load()
	if t == nil {
		return n, err
	}
	return f.filterRead(t, bufs, sizes, offset, n), err
}

// filterRead applies t to the n packets read; it returns the new count
// (fragments are appended after the packets read, in bufs' spare room).
func (f *mtuFilter) filterRead(t *mtuTable, bufs [][]byte, sizes []int, offset, n int) int {
	end := n
	for i := 0; i < n; i++ {
		pkt := bufs[i][offset : offset+sizes[i]]
		if len(pkt) <= t.min && !isTCPSYN(pkt) {
			continue
		}
		end = f.slowRead(t, bufs, sizes, offset, i, end)
	}
	return end
}

// slowRead handles packet i (a SYN, or one over the smallest limit) and
// returns the new end of the batch.
func (f *mtuFilter) slowRead(t *mtuTable, bufs [][]byte, sizes []int, offset, i, end int) int {
	pkt := bufs[i][offset : offset+sizes[i]]
	v := ipVersion(pkt)
	if v == 0 {
		return end
	}
	limit := t.lookup(dstAddr(pkt))
	if limit == 0 {
		return end
	}
	if isTCPSYN(pkt) && clampMSS(pkt, maxMSS(v, limit)) {
		f.mssClamped.Add(1)
	}
	if v == 6 {
		limit = max(limit, ipv6MinMTU)
	}
	if len(pkt) <= limit {
		return end
	}
	if v == 4 && pkt[6]&ipv4FlagDF == 0 {
		if k := ipv4Fragments(pkt, limit); k > 0 && k-1 <= maxExtraFragments && end+k-1 <= len(bufs) {
			var slots [maxExtraFragments][]byte
			out := slots[:k-1]
			for j := range out {
				out[j] = bufs[end+j][offset:]
			}
			head := fragmentIPv4(pkt, limit, out, sizes[end:end+k-1])
			sizes[i] = len(head)
			f.fragmented.Add(1)
			return end + k - 1
		}
		sizes[i] = 0
		f.tooBig.Add(1)
		f.logf("inner IPv4 packet over the path MTU could not be fragmented", "dst", dstAddr(pkt), "len", len(pkt), "mtu", limit)
		return end
	}
	sizes[i] = 0
	f.tooBig.Add(1)
	f.sendTooBig(pkt, limit)
	return end
}

// Write implements tun.Device: SYNs from a limited peer are clamped.
func (f *mtuFilter) Write(bufs [][]byte, offset int) (int, error) {
	if t := f.table.Load(); t != nil {
		for _, b := range bufs {
			pkt := b[offset:]
			if !isTCPSYN(pkt) {
				continue
			}
			if limit := t.lookup(srcAddr(pkt)); limit != 0 && clampMSS(pkt, maxMSS(ipVersion(pkt), limit)) {
				f.mssClamped.Add(1)
			}
		}
	}
	return f.Device.Write(bufs, offset)
}

// sendTooBig writes an ICMP error about pkt back into the TUN, at most
// one per icmpInterval per inner source.
func (f *mtuFilter) sendTooBig(pkt []byte, mtu int) {
	if !tooBigAllowed(pkt) {
		return
	}
	src := srcAddr(pkt)
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if last, ok := f.lastTo[src]; ok && now.Sub(last) < icmpInterval {
		f.icmpSuppressed.Add(1)
		return
	}
	if len(f.lastTo) >= icmpSources {
		clear(f.lastTo)
	}
	f.lastTo[src] = now
	out := f.icmpBuf[icmpWriteOffset:]
	var n int
	if ipVersion(pkt) == 4 {
		n = appendFragNeeded(out, pkt, mtu)
	} else {
		n = appendPacketTooBig(out, pkt, mtu)
	}
	if _, err := f.Device.Write([][]byte{f.icmpBuf[:icmpWriteOffset+n]}, icmpWriteOffset); err != nil {
		f.icmpSuppressed.Add(1)
		f.logLocked(now, "writing a packet-too-big error to the TUN failed", "err", err)
		return
	}
	f.icmpSent.Add(1)
	f.logLocked(now, "inner packets over the path MTU dropped, sender told", "src", src, "dst", dstAddr(pkt), "len", len(pkt), "mtu", mtu)
}

// logf logs at most one line per filterLogInterval.
func (f *mtuFilter) logf(msg string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logLocked(time.Now(), msg, args...)
}

func (f *mtuFilter) logLocked(now time.Time, msg string, args ...any) {
	if now.Sub(f.lastLog) < filterLogInterval {
		return
	}
	f.lastLog = now
	s := f.stats()
	f.log.Info(msg, append(args, "too_big", s.TooBig, "icmp_sent", s.ICMPSent, "fragmented", s.Fragmented)...)
}
