package tunnel

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

type batchWriter interface {
	WriteBatch([]ipv6.Message, int) (int, error)
}

// Send implements conn.Bind: bufs go to ep in as few sendmmsg calls as
// possible, coalesced with UDP GSO where the socket supports it, from the
// endpoint's sticky source address if it has one. A source address that
// has vanished is forgotten and the send retried without it.
func (b *sharedBind) Send(bufs [][]byte, cep conn.Endpoint) error {
	ep, ok := cep.(*endpoint)
	if !ok {
		return conn.ErrWrongEndpointType
	}
	is6 := ep.dst.Addr().Is6()
	b.mu.Lock()
	c, bw, offload := b.v4, batchWriter(b.v4pc), b.v4tx
	if is6 {
		c, bw, offload = b.v6, b.v6pc, b.v6tx
	}
	b.mu.Unlock()
	if c == nil || bw == nil {
		return syscall.EAFNOSUPPORT
	}
	b.m.signalActivity()
	msgs := b.getMessages()
	defer b.putMessages(msgs)
	ua := net.UDPAddrFromAddrPort(ep.dst)

	src := ep.source()
	var frag [][]byte // datagrams refused with DF, to send fragmented
	b.dfMu.RLock()
	err := b.sendOnce(c, bw, offload, ua, ep, src, bufs, *msgs, &frag)
	if err != nil && offload && errShouldDisableGSO(err) {
		b.mu.Lock()
		if is6 {
			b.v6tx = false
		} else {
			b.v4tx = false
		}
		b.mu.Unlock()
		b.log.Warn("disabled UDP GSO: the NIC may not support checksum offload", "err", err)
		offload = false
		frag = frag[:0]
		err = b.sendOnce(c, bw, offload, ua, ep, src, bufs, *msgs, &frag)
	}
	if err != nil && src.addr.IsValid() && isSourceGone(err) {
		// The address is gone from this host: forget it (the kernel
		// picks the source by route from now on) and resend.
		ep.ClearSrc()
		src = source{}
		frag = frag[:0]
		err = b.sendOnce(c, bw, offload, ua, ep, src, bufs, *msgs, &frag)
	}
	b.dfMu.RUnlock()
	if len(frag) > 0 {
		b.sendFragmented(c, is6, ep.dst, src, frag)
	}
	return err
}

// sendOnce builds the messages for bufs and writes them.
func (b *sharedBind) sendOnce(c *net.UDPConn, bw batchWriter, offload bool, ua *net.UDPAddr, ep *endpoint, src source, bufs [][]byte, msgs []ipv6.Message, frag *[][]byte) error {
	var n int
	if offload {
		n = coalesce(ua, ep.dst.Addr().Is6(), src, bufs, msgs)
	} else {
		for i := range bufs {
			msgs[i].Addr = ua
			msgs[i].Buffers[0] = bufs[i]
			msgs[i].OOB = msgs[i].OOB[:0]
			if src.addr.IsValid() {
				msgs[i].OOB = srcControl(msgs[i].OOB, src.addr, src.ifidx)
			}
		}
		n = len(bufs)
	}
	start := 0
	for start < n {
		sent, err := bw.WriteBatch(msgs[start:n], 0)
		start += max(sent, 0) // -1 with an error
		if err == nil {
			continue
		}
		if !isMsgSize(err) || start >= n {
			return err
		}
		// The kernel knows a smaller path MTU toward the peer.
		b.hints.note(ep.dst, src.addr)
		// msgs[start] is too big for the route: send its segments on
		// their own and carry on with the rest of the batch.
		if err := b.sendSplit(bw, &msgs[start], ep.dst, src, frag); err != nil {
			return err
		}
		start++
	}
	return nil
}

// sendSplit sends the segments of a GSO message that the kernel refused
// with EMSGSIZE as separate datagrams: the kernel refuses the whole
// message when its segment size exceeds the path MTU it knows, though
// the last, shorter segment or a batch sent before the MTU dropped may
// fit. The socket sets Don't Fragment (IP_PMTUDISC_DO): a datagram
// refused even alone is added to frag, which Send sends again without DF
// (sendFragmented), never failing the others; the refusal has already
// queued a hint that lowers the peer's limit (sizehint_linux.go).
func (b *sharedBind) sendSplit(bw batchWriter, msg *ipv6.Message, dst netip.AddrPort, src source, frag *[][]byte) error {
	b.sendOversize.Add(1)
	buf := msg.Buffers[0]
	seg := segmentSizeOf(msg.OOB)
	if seg == 0 || seg >= len(buf) {
		*frag = append(*frag, buf)
		return nil
	}
	parts := b.getMessages()
	defer b.putMessages(parts)
	k := 0
	for off := 0; off < len(buf) && k < len(*parts); off += seg {
		m := &(*parts)[k]
		m.Buffers[0] = buf[off:min(off+seg, len(buf))]
		m.Addr = msg.Addr
		m.OOB = m.OOB[:0]
		if src.addr.IsValid() {
			m.OOB = srcControl(m.OOB, src.addr, src.ifidx)
		}
		k++
	}
	b.sendResegmented.Add(1)
	b.sendLog.note(dst, "UDP GSO batch too big for the route, re-sent segment by segment", seg, b.sendStats())
	for start := 0; start < k; {
		sent, err := bw.WriteBatch((*parts)[start:k], 0)
		start += max(sent, 0) // -1 with an error
		if err == nil {
			continue
		}
		if !isMsgSize(err) || start >= k {
			return err
		}
		*frag = append(*frag, (*parts)[start].Buffers[0])
		start++
	}
	return nil
}

// sendFragmented sends datagrams to dst that the kernel refused with
// EMSGSIZE on their own, with Don't Fragment off, so that the kernel
// fragments them to the path MTU it knows: WireGuard data sent before the
// peer's limit came down (the hint lowers it within a second), and inner
// IPv6 packets up to 1280 bytes over a limit below 1280, which IPv6
// requires a link to carry and which relied on outer fragmentation before
// the socket set DF. Linux has no per-datagram DF for IPv4, so the socket's
// mode is switched to IP_PMTUDISC_DONT / IPV6_PMTUDISC_DONT and back while
// dfMu is held exclusively: no other datagram, a QUIC probe least of all,
// leaves without DF meanwhile. This is rare (refusals only) and costs every
// other send one uncontended read lock. A datagram that cannot be sent
// even so is dropped and counted.
func (b *sharedBind) sendFragmented(c *net.UDPConn, is6 bool, dst netip.AddrPort, src source, bufs [][]byte) {
	network, level, opt, dont := "udp4", unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT
	if is6 {
		network, level, opt, dont = "udp6", unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DONT
	}
	var oob []byte
	if src.addr.IsValid() {
		oob = srcControl(nil, src.addr, src.ifidx)
	}
	b.dfMu.Lock()
	defer b.dfMu.Unlock()
	rc, err := c.SyscallConn()
	var serr error
	if err == nil {
		err = rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, dont) })
	}
	if err == nil {
		err = serr
	}
	if err != nil {
		b.sendDropped.Add(uint64(len(bufs)))
		b.sendLog.note(dst, "datagram too big for the route, dropped", len(bufs[0]), b.sendStats())
		return
	}
	for _, buf := range bufs {
		if _, _, err := c.WriteMsgUDPAddrPort(buf, oob, dst); err != nil {
			b.sendDropped.Add(1)
			b.sendLog.note(dst, "datagram too big for the route, dropped", len(buf), b.sendStats())
			continue
		}
		b.sendFragCount.Add(1)
	}
	if err := rc.Control(func(fd uintptr) { serr = setPMTUDisc(int(fd), network) }); err == nil && serr != nil {
		b.log.Error("restoring Don't Fragment on the shared socket", "err", serr)
	}
	b.sendLog.note(dst, "datagram too big for the path sent fragmented", len(bufs[0]), b.sendStats())
}

// isMsgSize reports a send refused because the datagram exceeds the
// route's MTU.
func isMsgSize(err error) bool { return errors.Is(err, unix.EMSGSIZE) }

// sendStats returns the EMSGSIZE counters.
func (b *sharedBind) sendStats() SendStats {
	return SendStats{
		Oversize:    b.sendOversize.Load(),
		Resegmented: b.sendResegmented.Load(),
		Dropped:     b.sendDropped.Load(),
		Fragmented:  b.sendFragCount.Load(),
		Hints:       b.sendHints.Load(),
	}
}

// sendLogInterval is the least time between two log lines about the same
// peer endpoint and cause.
const sendLogInterval = 5 * time.Second

// sendLogger logs send failures at most once per sendLogInterval per
// endpoint and cause, however often they happen.
type sendLogger struct {
	log  *slog.Logger
	mu   sync.Mutex
	last map[sendLogKey]time.Time
}

type sendLogKey struct {
	dst   netip.AddrPort
	cause string
}

// note logs cause for dst unless it was logged less than sendLogInterval
// ago.
func (l *sendLogger) note(dst netip.AddrPort, cause string, size int, st SendStats) {
	now := time.Now()
	k := sendLogKey{dst, cause}
	l.mu.Lock()
	if t, ok := l.last[k]; ok && now.Sub(t) < sendLogInterval {
		l.mu.Unlock()
		return
	}
	if l.last == nil || len(l.last) >= 1024 {
		l.last = make(map[sendLogKey]time.Time)
	}
	l.last[k] = now
	l.mu.Unlock()
	l.log.Warn(cause, "peer", dst, "size", size, "oversize", st.Oversize, "resegmented", st.Resegmented, "dropped", st.Dropped)
}

// coalesce packs bufs into as few GSO messages as the kernel allows, as
// StdNetBind's coalesceMessages does: a run of equal-sized datagrams, the
// last one possibly shorter, at most 64 segments and 64 KB per message.
func coalesce(addr *net.UDPAddr, is6 bool, src source, bufs [][]byte, msgs []ipv6.Message) int {
	var (
		base     = -1
		gsoSize  int
		dgramCnt int
		endBatch bool
	)
	maxPayloadLen := maxIPv4PayloadLen
	if is6 {
		maxPayloadLen = maxIPv6PayloadLen
	}
	for i, buf := range bufs {
		if i > 0 {
			msgLen := len(buf)
			baseLenBefore := len(msgs[base].Buffers[0])
			freeBaseCap := cap(msgs[base].Buffers[0]) - baseLenBefore
			if msgLen+baseLenBefore <= maxPayloadLen &&
				msgLen <= gsoSize &&
				msgLen <= freeBaseCap &&
				dgramCnt < udpSegmentMaxDatagrams &&
				!endBatch {
				msgs[base].Buffers[0] = append(msgs[base].Buffers[0], buf...)
				if i == len(bufs)-1 {
					msgs[base].OOB = appendGSO(msgs[base].OOB, uint16(gsoSize))
				}
				dgramCnt++
				if msgLen < gsoSize {
					endBatch = true
				}
				continue
			}
		}
		if dgramCnt > 1 {
			msgs[base].OOB = appendGSO(msgs[base].OOB, uint16(gsoSize))
		}
		endBatch = false
		base++
		gsoSize = len(buf)
		msgs[base].OOB = msgs[base].OOB[:0]
		if src.addr.IsValid() {
			msgs[base].OOB = srcControl(msgs[base].OOB, src.addr, src.ifidx)
		}
		msgs[base].Buffers[0] = buf
		msgs[base].Addr = addr
		dgramCnt = 1
	}
	return base + 1
}

// errShouldDisableGSO reports the EIO that udp_send_skb returns when the
// device cannot checksum-offload, which UDP_SEGMENT requires.
func errShouldDisableGSO(err error) bool {
	var serr *os.SyscallError
	if errors.As(err, &serr) {
		return serr.Err == unix.EIO
	}
	return false
}
