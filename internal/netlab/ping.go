package netlab

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// PingOptions configures Node.Ping. The zero value sends one small echo
// request and waits a second for the reply.
type PingOptions struct {
	// Count is the number of echo requests; default 1.
	Count int
	// Interval is the time between requests; default 10 ms.
	Interval time.Duration
	// Size is the size of each request as an IP packet, headers included
	// (what a link or path MTU is compared with); default 84 for IPv4,
	// 104 for IPv6 (56 bytes of payload).
	Size int
	// Timeout is how long to wait for replies after the last request;
	// default 1 s.
	Timeout time.Duration
}

// PingResult is what Node.Ping saw.
type PingResult struct {
	// Sent and Received count echo requests and their distinct replies.
	Sent, Received int
	// RTTs are the round-trip times of the replies, in order of arrival.
	RTTs []time.Duration
	// Reordered counts replies that arrived after a reply to a later
	// request.
	Reordered int
	// TooBig counts ICMP "fragmentation needed" (IPv4) and ICMPv6
	// "packet too big" messages about the requests; TooBigMTU is the MTU
	// the last of them reported.
	TooBig, TooBigMTU int
}

// Ping sends ICMP echo requests from inside the node's namespace to dst
// and collects the replies. Requests never get fragmented: IPv4 ones
// carry DF and a request larger than the local link's MTU fails with an
// error wrapping syscall.EMSGSIZE (the socket ignores learned path MTUs,
// so the path itself is tested: IP_PMTUDISC_PROBE). It uses a raw socket
// (root) and matches replies by a random identifier, so concurrent pings
// do not mix.
func (n *Node) Ping(ctx context.Context, dst netip.Addr, opt PingOptions) (PingResult, error) {
	var res PingResult
	dst = dst.Unmap()
	v6 := dst.Is6()
	hdr := 20
	if v6 {
		hdr = 40
	}
	if opt.Count <= 0 {
		opt.Count = 1
	}
	if opt.Interval <= 0 {
		opt.Interval = 10 * time.Millisecond
	}
	if opt.Size == 0 {
		opt.Size = hdr + 8 + 56
	}
	if opt.Timeout <= 0 {
		opt.Timeout = time.Second
	}
	if opt.Size < hdr+8+8 || opt.Size > 65535 {
		return res, fmt.Errorf("netlab: ping %v: size %d out of range", dst, opt.Size)
	}
	network, level, opt1, val := "ip4:icmp", unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE
	if v6 {
		network, level, opt1, val = "ip6:ipv6-icmp", unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE
	}
	var conn net.PacketConn
	err := n.Do(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt1, val) }); err != nil {
				return err
			}
			return serr
		}}
		var err error
		conn, err = lc.ListenPacket(ctx, network, "")
		return err
	})
	if err != nil {
		return res, fmt.Errorf("netlab: %s: ping %v: opening raw socket: %w", n.NS, dst, err)
	}
	defer conn.Close()

	id := uint16(rand.Uint32())
	var (
		mu      sync.Mutex
		sentAt  = map[uint16]time.Time{}
		seen    = map[uint16]bool{}
		highest = -1
	)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 65536)
		for {
			k, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			now := time.Now()
			kind, seq, mtu, ok := parseICMP(buf[:k], v6, id)
			if !ok {
				continue
			}
			mu.Lock()
			switch kind {
			case icmpReply:
				if t, sent := sentAt[seq]; sent && !seen[seq] {
					seen[seq] = true
					res.Received++
					res.RTTs = append(res.RTTs, now.Sub(t))
					if int(seq) < highest {
						res.Reordered++
					} else {
						highest = int(seq)
					}
				}
			case icmpTooBig:
				res.TooBig++
				res.TooBigMTU = mtu
			}
			mu.Unlock()
		}
	}()

	payload := make([]byte, opt.Size-hdr-8)
	for i := range payload {
		payload[i] = byte(i)
	}
	var sendErr error
	tick := time.NewTicker(opt.Interval)
	defer tick.Stop()
	for seq := range opt.Count {
		if seq > 0 {
			select {
			case <-ctx.Done():
				sendErr = ctx.Err()
			case <-tick.C:
			}
			if sendErr != nil {
				break
			}
		}
		msg := echoRequest(v6, id, uint16(seq), payload)
		mu.Lock()
		sentAt[uint16(seq)] = time.Now()
		mu.Unlock()
		if _, err := conn.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			sendErr = fmt.Errorf("netlab: %s: ping %v (%d bytes): %w", n.NS, dst, opt.Size, err)
			break
		}
		mu.Lock()
		res.Sent++
		mu.Unlock()
	}
	// Wait for the replies: until all came or the timeout passed.
	deadline := time.Now().Add(opt.Timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		mu.Lock()
		all := res.Received == res.Sent
		mu.Unlock()
		if all {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	conn.Close()
	<-readerDone
	if sendErr == nil && ctx.Err() != nil {
		sendErr = ctx.Err()
	}
	return res, sendErr
}

type icmpKind int

const (
	icmpOther icmpKind = iota
	icmpReply
	icmpTooBig
)

// echoRequest builds an ICMP(v6) echo request. The kernel computes
// ICMPv6 checksums on raw sockets; ICMPv4's is computed here.
func echoRequest(v6 bool, id, seq uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	b[0] = 8
	if v6 {
		b[0] = 128
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], payload)
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], inetChecksum(b))
	}
	return b
}

func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// parseICMP classifies an ICMP(v6) message (IP header already removed)
// that concerns echo identifier id: a reply (with its sequence number) or
// a too-big error about one of our requests (with the reported MTU).
func parseICMP(b []byte, v6 bool, id uint16) (kind icmpKind, seq uint16, mtu int, ok bool) {
	if len(b) < 8 {
		return icmpOther, 0, 0, false
	}
	reply, tooBig := byte(0), byte(3)
	if v6 {
		reply, tooBig = 129, 2
	}
	switch {
	case b[0] == reply:
		if binary.BigEndian.Uint16(b[4:]) != id {
			return icmpOther, 0, 0, false
		}
		return icmpReply, binary.BigEndian.Uint16(b[6:]), 0, true
	case b[0] == tooBig && (v6 || b[1] == 4):
		inner := b[8:]
		if v6 {
			mtu = int(binary.BigEndian.Uint32(b[4:]))
			if len(inner) < 40+8 || inner[6] != unix.IPPROTO_ICMPV6 {
				return icmpOther, 0, 0, false
			}
			inner = inner[40:]
		} else {
			mtu = int(binary.BigEndian.Uint16(b[6:]))
			if len(inner) < 20 || inner[9] != unix.IPPROTO_ICMP {
				return icmpOther, 0, 0, false
			}
			ihl := int(inner[0]&0x0f) * 4
			if len(inner) < ihl+8 {
				return icmpOther, 0, 0, false
			}
			inner = inner[ihl:]
		}
		if binary.BigEndian.Uint16(inner[4:]) != id {
			return icmpOther, 0, 0, false
		}
		return icmpTooBig, binary.BigEndian.Uint16(inner[6:]), mtu, true
	}
	return icmpOther, 0, 0, false
}
