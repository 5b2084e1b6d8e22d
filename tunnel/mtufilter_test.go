package tunnel

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"testing"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.zx2c4.com/wireguard/tun"
)

func key(b byte) Key {
	var k Key
	k[0] = b
	return k
}

func pfxs(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestPeerRoutesTable(t *testing.T) {
	r := newPeerRoutes(1420)
	if r.table() != nil {
		t.Fatal("a table without limits")
	}
	// A mobile node: one peer with wide prefixes and a limit; a second
	// peer without one owns a more specific prefix inside them.
	r.setAllowed(key(1), pfxs("192.0.2.0/24", "2001:db8:1::/64", "0.0.0.0/0"))
	r.setAllowed(key(2), pfxs("192.0.2.128/25", "2001:db8:1::5/128"))
	r.setMTU(key(1), 1220)
	tb := r.table()
	for _, c := range []struct {
		addr string
		want int
	}{
		{"192.0.2.1", 1216}, // rounded down to the padding multiple
		{"198.51.100.1", 1216},
		{"192.0.2.200", 0}, // the unlimited peer's more specific prefix
		{"2001:db8:1::1", 1216},
		{"2001:db8:1::5", 0},
		{"2001:db8:2::1", 0},
	} {
		if got := tb.lookup(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("lookup(%s) = %d, want %d", c.addr, got, c.want)
		}
	}
	if tb.min != 1216 {
		t.Errorf("min = %d", tb.min)
	}

	// A prefix moving to another peer takes its limit (or none) along.
	if !r.setAllowed(key(3), pfxs("192.0.2.0/24")) {
		t.Fatal("moving a limited peer's prefix did not ask for a rebuild")
	}
	if got := r.table().lookup(netip.MustParseAddr("192.0.2.1")); got != 0 {
		t.Errorf("moved prefix still limited: %d", got)
	}
	// Home agent: /32s only, many unlimited peers; a change to one of
	// those needs no rebuild.
	h := newPeerRoutes(1420)
	h.setAllowed(key(1), pfxs("192.0.2.2/32", "2001:db8:1::2/128"))
	h.setMTU(key(1), 1300)
	if h.setAllowed(key(9), pfxs("192.0.2.9/32")) {
		t.Error("an unrelated unlimited peer asked for a rebuild")
	}
	tb = h.table()
	if got := tb.lookup(netip.MustParseAddr("192.0.2.2")); got != 1296 {
		t.Errorf("lookup = %d", got)
	}
	if got := tb.lookup(netip.MustParseAddr("192.0.2.9")); got != 0 {
		t.Errorf("unlimited peer limited: %d", got)
	}
	h.setMTU(key(1), 1420)
	if h.table() != nil {
		t.Error("a limit equal to the interface MTU is a limit (wireguard-go caps padding there)")
	}
	h.setMTU(key(1), 1300)
	if !h.remove(key(1)) || h.table() != nil {
		t.Error("removing the only limited peer left a table")
	}
}

// fakeTUN is a tun.Device whose Read hands out queued packets and whose
// Write records what was written.
type fakeTUN struct {
	mu      sync.Mutex
	queue   [][]byte
	written [][]byte
}

func (f *fakeTUN) File() *os.File { return nil }
func (f *fakeTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for n < len(bufs) && len(f.queue) > 0 {
		sizes[n] = copy(bufs[n][offset:], f.queue[0])
		f.queue = f.queue[1:]
		n++
	}
	return n, nil
}
func (f *fakeTUN) Write(bufs [][]byte, offset int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range bufs {
		f.written = append(f.written, bytes.Clone(b[offset:]))
	}
	return len(bufs), nil
}
func (f *fakeTUN) MTU() (int, error)        { return DefaultMTU, nil }
func (f *fakeTUN) Name() (string, error)    { return "fake", nil }
func (f *fakeTUN) Events() <-chan tun.Event { return nil }
func (f *fakeTUN) Close() error             { return nil }
func (f *fakeTUN) BatchSize() int           { return 8 }

// batch returns n buffers of wireguard-go's size.
func batch(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, 16+2048)
	}
	return bufs, make([]int, n)
}

func newTestFilter(limit int) (*mtuFilter, *fakeTUN) {
	ft := &fakeTUN{}
	f := newMTUFilter(ft, slog.New(slog.DiscardHandler))
	r := newPeerRoutes(1420)
	r.setAllowed(key(1), pfxs("203.0.113.0/24", "2001:db8:b::/48"))
	r.setMTU(key(1), limit)
	f.setTable(r.table())
	return f, ft
}

func TestFilterRead(t *testing.T) {
	f, ft := newTestFilter(1220) // enforced: 1216
	small := tcpPacket(testSrc4, testDst4, 0x10, nil, 500)
	syn := tcpPacket(testSrc4, testDst4, 0x02, mssOpt1460, 0)
	bigDF := tcpPacket(testSrc4, testDst4, 0x10, nil, 1380)
	bigNoDF := ipPacket(testSrc4, testDst4, 17, false, make([]byte, 1380))
	v6mid := tcpPacket(testSrc6, testDst6, 0x10, nil, 1200) // 1260: under IPv6's 1280
	v6big := tcpPacket(testSrc6, testDst6, 0x10, nil, 1340)
	other := tcpPacket(testSrc4, netip.MustParseAddr("192.0.2.50"), 0x10, nil, 1380) // no limit
	ft.queue = [][]byte{small, syn, bigDF, bigNoDF, v6mid, v6big, other}

	bufs, sizes := batch(16)
	n, err := f.Read(bufs, sizes, 16)
	if err != nil {
		t.Fatal(err)
	}
	if n != 8 {
		t.Fatalf("Read returned %d packets, want 7 read + 1 fragment", n)
	}
	pkt := func(i int) []byte { return bufs[i][16 : 16+sizes[i]] }
	if !bytes.Equal(pkt(0), small) {
		t.Error("small packet changed")
	}
	if mssOf(pkt(1)) != 1176 || !tcpChecksumOK(pkt(1)) {
		t.Errorf("SYN MSS %d", mssOf(pkt(1)))
	}
	if sizes[2] != 0 {
		t.Error("oversize DF packet not dropped")
	}
	if sizes[3] > 1216 || sizes[7] == 0 || sizes[3]+sizes[7]-20 != len(bigNoDF) {
		t.Errorf("non-DF packet not fragmented: %d + %d", sizes[3], sizes[7])
	}
	if !bytes.Equal(pkt(4), v6mid) {
		t.Error("IPv6 packet under 1280 dropped or changed")
	}
	if sizes[5] != 0 {
		t.Error("oversize IPv6 packet not dropped")
	}
	if !bytes.Equal(pkt(6), other) {
		t.Error("packet to an unlimited peer changed")
	}

	if len(ft.written) != 2 {
		t.Fatalf("%d errors written to the TUN, want 2", len(ft.written))
	}
	h4, err := ipv4.ParseHeader(ft.written[0])
	if err != nil {
		t.Fatal(err)
	}
	m4, err := icmp.ParseMessage(protoICMP, ft.written[0][h4.Len:])
	if err != nil || m4.Code != 4 || binary.BigEndian.Uint16(ft.written[0][h4.Len+6:]) != 1216 {
		t.Fatalf("IPv4 error: %v %+v", err, m4)
	}
	h6, err := ipv6.ParseHeader(ft.written[1])
	if err != nil {
		t.Fatal(err)
	}
	m6, err := icmp.ParseMessage(protoICMPv6, ft.written[1][40:])
	if err != nil {
		t.Fatal(err)
	}
	if ptb, ok := m6.Body.(*icmp.PacketTooBig); !ok || ptb.MTU != ipv6MinMTU || !h6.Dst.Equal(testSrc6.AsSlice()) {
		t.Fatalf("IPv6 error: %+v", m6)
	}

	// The same sender again at once: rate limited.
	ft.queue = [][]byte{bigDF}
	if n, _ := f.Read(bufs, sizes, 16); n != 1 || sizes[0] != 0 {
		t.Fatal("oversize packet not dropped")
	}
	st := f.stats()
	if len(ft.written) != 2 || st.ICMPSuppressed != 1 || st.ICMPSent != 2 || st.TooBig != 3 || st.Fragmented != 1 || st.MSSClamped != 1 {
		t.Fatalf("stats %+v, %d written", st, len(ft.written))
	}
}

func TestFilterNoRoomForFragments(t *testing.T) {
	f, _ := newTestFilter(1220)
	ft := f.Device.(*fakeTUN)
	ft.queue = [][]byte{ipPacket(testSrc4, testDst4, 17, false, make([]byte, 1380))}
	bufs, sizes := batch(1)
	if n, _ := f.Read(bufs, sizes, 16); n != 1 || sizes[0] != 0 {
		t.Fatalf("n=%d size=%d: an unfragmentable packet must be dropped", n, sizes[0])
	}
}

func TestFilterWrite(t *testing.T) {
	f, ft := newTestFilter(1300)
	fromPeer := tcpPacket(testDst4, testSrc4, 0x12, mssOpt1460, 0)  // SYN-ACK from the limited peer's side
	fromOther := tcpPacket(testSrc4, testDst4, 0x12, mssOpt1460, 0) // source not behind the peer
	buf := func(p []byte) []byte { return append(make([]byte, 16), p...) }
	if _, err := f.Write([][]byte{buf(fromPeer), buf(fromOther)}, 16); err != nil {
		t.Fatal(err)
	}
	if got := mssOf(ft.written[0]); got != 1296-40 || !tcpChecksumOK(ft.written[0]) {
		t.Errorf("SYN-ACK from the peer: MSS %d", got)
	}
	if got := mssOf(ft.written[1]); got != 1460 {
		t.Errorf("SYN-ACK from elsewhere: MSS %d", got)
	}
}

func TestFilterReadAllocs(t *testing.T) {
	f, _ := newTestFilter(1400)
	bufs, sizes := batch(64)
	pkt := tcpPacket(testSrc4, testDst4, 0x10, nil, 1300)
	for i := range bufs {
		sizes[i] = copy(bufs[i][16:], pkt)
	}
	t0 := f.table.Load()
	allocs := testing.AllocsPerRun(100, func() { f.filterRead(t0, bufs, sizes, 16, len(bufs)) })
	if allocs != 0 {
		t.Fatalf("%v allocations per batch", allocs)
	}
}

// BenchmarkFilterRead measures the filter per packet on its fast path:
// full-size TCP segments under the limit (the bulk of a transfer), with
// no limit configured and with one.
func BenchmarkFilterRead(b *testing.B) {
	bufs, sizes := batch(64)
	pkt := tcpPacket(testSrc4, testDst4, 0x10, nil, 1360) // 1400 bytes
	for i := range bufs {
		sizes[i] = copy(bufs[i][16:], pkt)
	}
	for _, c := range []struct {
		name  string
		limit int
	}{{"no-limit", 0}, {"under-limit", 1410}} {
		b.Run(c.name, func(b *testing.B) {
			f, _ := newTestFilter(1410)
			if c.limit == 0 {
				f.setTable(nil)
			}
			b.ReportAllocs()
			for b.Loop() {
				t := f.table.Load()
				if t != nil {
					f.filterRead(t, bufs, sizes, 16, len(bufs))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bufs)), "ns/packet")
		})
	}
}

// BenchmarkPeerRoutesRebuild measures a SetPeerMTU on a home agent where
// every one of 10,000 devices (a /32 and a /128 each) already has a limit:
// the copy-on-write table is rebuilt whole.
func BenchmarkPeerRoutesRebuild(b *testing.B) {
	r := newPeerRoutes(DefaultMTU)
	for i := 0; i < 10000; i++ {
		var k Key
		binary.BigEndian.PutUint32(k[:], uint32(i))
		v4 := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		r.setAllowed(k, []netip.Prefix{netip.PrefixFrom(v4, 32), netip.PrefixFrom(v6, 128)})
		r.setMTU(k, 1220)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.setMTU(key(0), 1300)
		if r.table() == nil {
			b.Fatal("no table")
		}
	}
}

// TestPeerRoutesIncremental applies random changes and checks after each
// that the table the Device would install (patched or rebuilt) answers
// like one built from scratch.
func TestPeerRoutesIncremental(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var addrs []netip.Addr
	for i := 0; i < 24; i++ {
		addrs = append(addrs, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}))
	}
	wide := pfxs("192.0.2.0/28", "192.0.2.0/24", "2001:db8::/120")
	r := newPeerRoutes(DefaultMTU)
	var installed *mtuTable
	for step := 0; step < 5000; step++ {
		k := key(byte(rng.IntN(8)))
		affected := true
		switch op := rng.IntN(10); {
		case op < 5:
			var ps []netip.Prefix
			for n := rng.IntN(4); n > 0; n-- {
				a := addrs[rng.IntN(len(addrs))]
				ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
			}
			if rng.IntN(8) == 0 {
				ps = append(ps, wide[rng.IntN(len(wide))])
			}
			affected = r.setAllowed(k, ps)
		case op < 8:
			mtus := []int{0, 600, 1220, 1300, 1420}
			r.setMTU(k, mtus[rng.IntN(len(mtus))])
		default:
			affected = r.remove(k)
		}
		if affected {
			installed = r.table()
		}
		ref := r.build()
		if (installed == nil) != (ref == nil) {
			t.Fatalf("step %d: installed %v, from scratch %v", step, installed != nil, ref != nil)
		}
		if ref == nil {
			continue
		}
		if installed.min != ref.min {
			t.Fatalf("step %d: min %d, from scratch %d", step, installed.min, ref.min)
		}
		for _, a := range addrs {
			if got, want := installed.lookup(a), ref.lookup(a); got != want {
				t.Fatalf("step %d: lookup(%v) = %d, from scratch %d", step, a, got, want)
			}
		}
	}
}
