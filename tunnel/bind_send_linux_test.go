package tunnel

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// msgSizeWriter is a batchWriter that refuses, like the kernel on a route
// of MTU mtu, every GSO message whose segments exceed mtu with EMSGSIZE,
// and every single datagram larger than max; it records the datagrams it
// accepted (GSO messages split into their segments).
type msgSizeWriter struct {
	mtu, max int
	sent     [][]byte
	calls    int
}

func (w *msgSizeWriter) WriteBatch(msgs []ipv6.Message, _ int) (int, error) {
	w.calls++
	for i, m := range msgs {
		buf := m.Buffers[0]
		seg := segmentSizeOf(m.OOB)
		if (seg > 0 && seg > w.mtu) || (seg == 0 && len(buf) > w.max) {
			if i == 0 {
				return -1, &net.OpError{Op: "write", Err: os.NewSyscallError("sendmmsg", unix.EMSGSIZE)}
			}
			return i, nil
		}
		if seg == 0 {
			seg = len(buf)
		}
		for off := 0; off < len(buf); off += seg {
			w.sent = append(w.sent, bytes.Clone(buf[off:min(off+seg, len(buf))]))
		}
	}
	return len(msgs), nil
}

func TestSendEMSGSIZE(t *testing.T) {
	b := newSharedBind(netip.Addr{}, nil, nil, newDemux(), slog.New(slog.DiscardHandler))
	ep := newEndpoint(netip.MustParseAddrPort("198.51.100.1:51820"), netip.Addr{}, 0)
	ua := net.UDPAddrFromAddrPort(ep.dst)
	// Two GSO runs: 1452-byte datagrams (over a 1280 route), then 1000-byte
	// ones (fitting).
	// Like wireguard-go's, the buffers have room for coalescing.
	dgram := func(fill byte, n int) []byte {
		b := make([]byte, n, 1<<16)
		for i := range b {
			b[i] = fill
		}
		return b
	}
	var bufs [][]byte
	for i := 0; i < 5; i++ {
		bufs = append(bufs, dgram(byte(i), 1452))
	}
	for i := 5; i < 9; i++ {
		bufs = append(bufs, dgram(byte(i), 1000))
	}
	orig := make([][]byte, len(bufs))
	for i := range bufs {
		orig[i] = bytes.Clone(bufs[i])
	}
	// The socket sets DF: the kernel refuses single datagrams over the
	// route's MTU too.
	w := &msgSizeWriter{mtu: 1280 - 28, max: 1280 - 28}
	msgs := b.getMessages()
	defer b.putMessages(msgs)
	var frag [][]byte
	if err := b.sendOnce(nil, w, true, ua, ep, source{}, bufs, *msgs, &frag); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	// The fitting datagrams went out in order; the refused ones wait, in
	// order, to be sent without DF (sendFragmented).
	if len(w.sent) != 4 {
		t.Fatalf("%d datagrams went out, want the 4 that fit", len(w.sent))
	}
	for i := range w.sent {
		if !bytes.Equal(w.sent[i], orig[5+i]) {
			t.Fatalf("datagram %d differs or out of order", 5+i)
		}
	}
	if len(frag) != 5 {
		t.Fatalf("%d datagrams to fragment, want 5", len(frag))
	}
	for i := range frag {
		if !bytes.Equal(frag[i], orig[i]) {
			t.Fatalf("datagram %d to fragment differs or out of order", i)
		}
	}
	if st := b.sendStats(); st.Oversize != 1 || st.Resegmented != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}

	// Without GSO: a single datagram refused is set aside; the rest go.
	w = &msgSizeWriter{mtu: 1280 - 28, max: 1400}
	bufs = [][]byte{dgram(1, 1452), dgram(2, 100)}
	frag = nil
	if err := b.sendOnce(nil, w, false, ua, ep, source{}, bufs, *msgs, &frag); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if len(w.sent) != 1 || len(w.sent[0]) != 100 {
		t.Fatalf("sent %d datagrams", len(w.sent))
	}
	if len(frag) != 1 || len(frag[0]) != 1452 {
		t.Fatalf("%d datagrams to fragment, want the one of 1452 bytes", len(frag))
	}
	if st := b.sendStats(); st.Oversize != 2 {
		t.Fatalf("stats %+v", st)
	}
}
