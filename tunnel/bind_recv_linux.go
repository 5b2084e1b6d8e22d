package tunnel

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv6"
	"golang.zx2c4.com/wireguard/conn"
)

type batchReader interface {
	ReadBatch([]ipv6.Message, int) (int, error)
}

// makeReceive returns the receive function of one socket.
func (b *sharedBind) makeReceive(br batchReader, rxOffload bool) conn.ReceiveFunc {
	var origin [conn.IdealBatchSize]int
	eps := make([]*endpoint, conn.IdealBatchSize)
	fn := func(bufs [][]byte, sizes []int, out []conn.Endpoint) (int, error) {
		msgs := b.getMessages()
		defer b.putMessages(msgs)
		for i := range bufs {
			(*msgs)[i].Buffers[0] = bufs[i]
			(*msgs)[i].OOB = (*msgs)[i].OOB[:cap((*msgs)[i].OOB)]
		}
		var n int
		if rxOffload {
			// Read few messages at the end of the batch and split them
			// forward into single datagrams (up to 64 each).
			readAt := max(0, len(bufs)-len(bufs)/udpSegmentMaxDatagrams)
			if readAt == len(bufs) {
				readAt = len(bufs) - 1
			}
			got, err := br.ReadBatch((*msgs)[readAt:len(bufs)], 0)
			if err != nil {
				return 0, err
			}
			n, err = splitCoalesced((*msgs)[:len(bufs)], readAt, readAt+got, origin[:])
			if err != nil {
				return 0, err
			}
		} else {
			got, err := br.ReadBatch((*msgs)[:len(bufs)], 0)
			if err != nil {
				return 0, err
			}
			for i := 0; i < got; i++ {
				origin[i] = i
			}
			n = got
		}
		// One endpoint per read message, shared by its GRO segments (they
		// all have the same source and destination).
		clear(eps[:len(bufs)])
		for i := 0; i < n; i++ {
			msg := &(*msgs)[i]
			sizes[i] = msg.N
			out[i] = nil
			if msg.N == 0 {
				continue
			}
			o := origin[i]
			ep := eps[o]
			if ep == nil {
				om := &(*msgs)[o]
				ua, _ := msg.Addr.(*net.UDPAddr)
				if ua == nil {
					sizes[i] = 0
					continue
				}
				src, ifidx := parsePktinfo(om.OOB[:om.NN])
				ep = newEndpoint(ua.AddrPort(), src, ifidx)
				eps[o] = ep
			}
			out[i] = ep
		}
		wg := b.m.sort(bufs, sizes, n, func(i int) (netip.AddrPort, netip.Addr) {
			ep := out[i].(*endpoint)
			return ep.dst, ep.source().addr
		})
		if wg > 0 {
			if t := b.retired.Load(); t != nil {
				b.holdRetired(t, sizes[:n], out[:n])
			}
		}
		return n, nil
	}
	return fn
}

// holdRetired hands the WireGuard datagrams of a sorted batch that came
// from a retired endpoint to wireguard-go with the endpoint their peer was
// re-pointed to (retire.go). Once every entry of t has expired it drops t,
// unless the Device published another meanwhile.
func (b *sharedBind) holdRetired(t *retiredTable, sizes []int, eps []conn.Endpoint) {
	now := time.Now()
	if !now.Before(t.until) {
		b.retired.CompareAndSwap(t, nil)
		return
	}
	if n := t.hold(sizes, eps, now, b.log); n > 0 {
		b.held.Add(uint64(n))
	}
}

// splitCoalesced splits the GRO-coalesced messages msgs[first:last] into
// single datagrams from msgs[0] on, like StdNetBind, and records for every
// resulting datagram the index of the message it was read in, whose
// control data (IP_PKTINFO) still describes it.
func splitCoalesced(msgs []ipv6.Message, first, last int, origin []int) (int, error) {
	n := 0
	for i := first; i < last; i++ {
		msg := &msgs[i]
		if msg.N == 0 {
			continue
		}
		gsoSize, err := gsoSizeOf(msg.OOB[:msg.NN])
		if err != nil {
			return n, err
		}
		start, end, count := 0, msg.N, 1
		if gsoSize > 0 {
			count = (msg.N + gsoSize - 1) / gsoSize
			end = gsoSize
		}
		for j := 0; j < count; j++ {
			if n > i {
				return n, errors.New("tunnel: splitting coalesced packet overflowed the batch")
			}
			copied := copy(msgs[n].Buffers[0], msg.Buffers[0][start:end])
			msgs[n].N = copied
			msgs[n].Addr = msg.Addr
			origin[n] = i
			start = end
			end = min(end+gsoSize, msg.N)
			n++
		}
		if i != n-1 {
			msg.N = 0
		}
	}
	return n, nil
}
