package tunnel

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want datagramKind
	}{
		{"empty", nil, kindDrop},
		{"wg initiation", []byte{1, 0, 0, 0, 9, 9}, kindWireGuard},
		{"wg response", []byte{2, 0, 0, 0}, kindWireGuard},
		{"wg cookie", []byte{3, 0, 0, 0}, kindWireGuard},
		{"wg data", []byte{4, 0, 0, 0, 1}, kindWireGuard},
		{"type 5", []byte{5, 0, 0, 0}, kindDrop},
		{"type 0", []byte{0, 0, 0, 0}, kindDrop},
		{"wg type, nonzero reserved", []byte{1, 0, 1, 0}, kindDrop},
		{"short wg-like", []byte{4, 0, 0}, kindDrop},
		{"quic long header", []byte{0xc3, 0, 0, 0, 1}, kindQUIC},
		{"quic short header", []byte{0x41, 0xaa}, kindQUIC},
		{"quic one byte", []byte{0x40}, kindQUIC},
		{"no fixed bit", []byte{0x80, 0, 0, 0}, kindDrop},
		{"stun", []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42}, kindDrop},
		{"idle probe", IdleProbe{Op: IdleProbeRequest}.Marshal(), kindIdleProbe},
		{"idle probe kind, short", []byte{IdleProbeKind}, kindIdleProbe},
	}
	for _, tt := range tests {
		if got := classify(tt.b); got != tt.want {
			t.Errorf("%s: classify(%x) = %d, want %d", tt.name, tt.b, got, tt.want)
		}
	}
}

// sortBatch runs one batch through m.sort with a fixed source.
func sortBatch(m *demux, dgrams [][]byte, from netip.AddrPort) ([][]byte, []int) {
	bufs := make([][]byte, len(dgrams))
	sizes := make([]int, len(dgrams))
	for i, d := range dgrams {
		bufs[i] = make([]byte, len(d)+16)
		copy(bufs[i], d)
		sizes[i] = len(d)
	}
	m.sort(bufs, sizes, len(dgrams), func(int) (netip.AddrPort, netip.Addr) {
		return from, netip.MustParseAddr("198.18.0.1")
	})
	return bufs, sizes
}

// checkSorted checks the invariant of the demultiplexer for one batch:
// every datagram went to exactly one side or was dropped and counted, the
// WireGuard ones unchanged in place and the QUIC ones, byte for byte, on
// the queue.
func checkSorted(t *testing.T, m *demux, dgrams [][]byte) {
	t.Helper()
	before := m.stats()
	from := netip.MustParseAddrPort("203.0.113.5:4242")
	bufs, sizes := sortBatch(m, dgrams, from)
	after := m.stats()
	var wg, quic, drop uint64
	var quicWant [][]byte
	for i, d := range dgrams {
		switch classify(d) {
		case kindWireGuard:
			wg++
			if sizes[i] != len(d) || !bytes.Equal(bufs[i][:sizes[i]], d) {
				t.Fatalf("datagram %d: WireGuard datagram changed", i)
			}
			continue
		case kindQUIC:
			quic++
			quicWant = append(quicWant, d)
		default:
			if len(d) > 0 {
				drop++
			}
		}
		if sizes[i] != 0 {
			t.Fatalf("datagram %d (%x) left for WireGuard", i, d)
		}
	}
	if after.WireGuard-before.WireGuard != wg ||
		(after.QUIC+after.QUICOverflow)-(before.QUIC+before.QUICOverflow) != quic ||
		after.Dropped-before.Dropped != drop {
		t.Fatalf("counters moved %+v -> %+v; want wg %d quic %d drop %d", before, after, wg, quic, drop)
	}
	queued := int(after.QUIC - before.QUIC)
	for i := 0; i < queued; i++ {
		d := <-m.queue
		if !bytes.Equal(*d.buf, quicWant[i]) || d.from != from {
			t.Fatalf("queued QUIC datagram %d = %x from %v, want %x", i, *d.buf, d.from, quicWant[i])
		}
		m.release(d.buf)
	}
}

func TestDemuxSort(t *testing.T) {
	m := newDemux()
	checkSorted(t, m, [][]byte{
		{4, 0, 0, 0, 1, 2, 3},
		{0xc0, 1, 2, 3},
		{},
		{0x17, 3, 3},
		bytes.Repeat([]byte{0x40}, 3000), // bigger than a pooled buffer
		{1, 0, 0, 0},
	})
	if st := m.stats(); st.Total() != 5 || st.Dropped != 1 || st.QUIC != 2 || st.WireGuard != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDemuxQueueOverflowAndClose(t *testing.T) {
	m := newDemux()
	for i := 0; i < quicQueueLen+10; i++ {
		sortBatch(m, [][]byte{{0x40, byte(i)}}, netip.MustParseAddrPort("203.0.113.5:1"))
	}
	st := m.stats()
	if st.QUIC != quicQueueLen || st.QUICOverflow != 10 {
		t.Fatalf("stats %+v, want %d queued and 10 overflowed", st, quicQueueLen)
	}
	c := newControlConn(m, &fakeSender{})
	c.Close()
	c.Close()
	sortBatch(m, [][]byte{{0x40}}, netip.MustParseAddrPort("203.0.113.5:1"))
	if got := m.stats().QUICOverflow; got != 11 {
		t.Fatalf("after close overflow = %d, want 11", got)
	}
	if len(m.queue) != 0 {
		t.Fatalf("%d datagrams left queued after Close", len(m.queue))
	}
}

// fakeSender records control sends.
type fakeSender struct {
	to    netip.AddrPort
	local netip.Addr
	b     []byte
	err   error
}

func (f *fakeSender) sendControl(b []byte, to netip.AddrPort, local netip.Addr) error {
	f.to, f.local, f.b = to, local, append([]byte(nil), b...)
	return f.err
}

// controlFDs has no descriptor to run fn on.
func (f *fakeSender) controlFDs(func(fd uintptr)) error { return nil }

func (f *fakeSender) localAddr() net.Addr {
	return net.UDPAddrFromAddrPort(netip.MustParseAddrPort("198.18.0.1:51820"))
}

func TestControlConn(t *testing.T) {
	m := newDemux()
	s := &fakeSender{}
	c := newControlConn(m, s)
	from := netip.MustParseAddrPort("203.0.113.5:4242")
	sortBatch(m, [][]byte{{0x41, 1, 2, 3}}, from)

	buf := make([]byte, 2)
	n, addr, err := c.ReadFrom(buf)
	if err != nil || n != 2 || !bytes.Equal(buf, []byte{0x41, 1}) {
		t.Fatalf("ReadFrom = %d %x %v (truncation expected)", n, buf[:n], err)
	}
	if addr.(*net.UDPAddr).AddrPort() != from {
		t.Fatalf("from %v", addr)
	}
	// The reply goes back from the address the datagram was sent to.
	if _, err := c.WriteTo([]byte{0x40, 9}, addr); err != nil {
		t.Fatal(err)
	}
	if s.to != from || s.local != netip.MustParseAddr("198.18.0.1") || !bytes.Equal(s.b, []byte{0x40, 9}) {
		t.Fatalf("sent %x to %v from %v", s.b, s.to, s.local)
	}
	// An IPv4-mapped destination is unmapped.
	mapped := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("[::ffff:203.0.113.9]:7"))
	if _, err := c.WriteTo([]byte{0x40}, mapped); err != nil || s.to != netip.MustParseAddrPort("203.0.113.9:7") {
		t.Fatalf("mapped write went to %v, %v", s.to, err)
	}
	s.err = errors.New("boom")
	if _, err := c.WriteTo([]byte{0x40}, addr); err == nil {
		t.Fatal("send error swallowed")
	}
	if _, err := c.WriteTo([]byte{0x40}, nil); err == nil {
		t.Fatal("nil address accepted")
	}

	// Deadlines.
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, _, err := c.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom past deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := c.WriteTo([]byte{0x40}, addr); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("WriteTo past deadline: %v", err)
	}
	c.SetDeadline(time.Time{})
	// A deadline set while a reader waits wakes it.
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(buf)
		errc <- err
	}()
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked ReadFrom: %v", err)
	}
	_, _, err = c.ReadFrom(buf)
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("deadline error %v is not a net.Error timeout", err)
	}

	// Close wakes a blocked reader with net.ErrClosed.
	c.SetReadDeadline(time.Time{})
	go func() {
		_, _, err := c.ReadFrom(buf)
		errc <- err
	}()
	c.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFrom after Close: %v", err)
	}
	if _, err := c.WriteTo([]byte{0x40}, addr); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTo after Close: %v", err)
	}
	if c.LocalAddr().String() != "198.18.0.1:51820" {
		t.Fatalf("LocalAddr %v", c.LocalAddr())
	}
}

// FuzzDemux feeds arbitrary batches to the demultiplexer. The first byte
// of the input gives the number of datagrams (1..8); the rest is cut into
// that many pieces at the positions the next bytes name.
func FuzzDemux(f *testing.F) {
	f.Add([]byte{1, 4, 0, 0, 0, 1, 2, 3})
	f.Add([]byte{2, 4, 0xc0, 0, 0, 0, 1, 0x40, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		n := int(data[0])%8 + 1
		rest := data[1:]
		dgrams := make([][]byte, 0, n)
		for i := 0; i < n-1 && len(rest) > 0; i++ {
			cut := int(rest[0]) % (len(rest) + 1)
			rest = rest[1:]
			cut = min(cut, len(rest))
			dgrams = append(dgrams, rest[:cut])
			rest = rest[cut:]
		}
		dgrams = append(dgrams, rest)
		checkSorted(t, newDemux(), dgrams)
	})
}
