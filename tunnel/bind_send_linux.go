package tunnel

import (
	"errors"
	"net"
	"os"
	"syscall"

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
	err := b.sendOnce(c, bw, offload, ua, ep, src, bufs, *msgs)
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
		err = b.sendOnce(c, bw, offload, ua, ep, src, bufs, *msgs)
	}
	if err != nil && src.addr.IsValid() && isSourceGone(err) {
		// The address is gone from this host: forget it (the kernel
		// picks the source by route from now on) and resend.
		ep.ClearSrc()
		err = b.sendOnce(c, bw, offload, ua, ep, source{}, bufs, *msgs)
	}
	return err
}

// sendOnce builds the messages for bufs and writes them.
func (b *sharedBind) sendOnce(c *net.UDPConn, bw batchWriter, offload bool, ua *net.UDPAddr, ep *endpoint, src source, bufs [][]byte, msgs []ipv6.Message) error {
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
		if err != nil {
			return err
		}
		start += sent
	}
	return nil
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
