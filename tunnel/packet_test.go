package tunnel

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Test packets are built here with checksums computed independently of
// the package's own helpers.

var (
	testSrc4 = netip.MustParseAddr("198.51.100.7")
	testDst4 = netip.MustParseAddr("203.0.113.9")
	testSrc6 = netip.MustParseAddr("2001:db8:a::7")
	testDst6 = netip.MustParseAddr("2001:db8:b::9")
)

// sum16 is a plain RFC 1071 checksum of the concatenation of parts.
func sum16(parts ...[]byte) uint16 {
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var s uint64
	for i := 0; i < len(all); i += 2 {
		s += uint64(binary.BigEndian.Uint16(all[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// pseudo returns the TCP/UDP/ICMPv6 pseudo-header of a packet.
func pseudo(src, dst netip.Addr, proto byte, length int) []byte {
	if src.Is4() {
		b := append(src.AsSlice(), dst.AsSlice()...)
		return append(b, 0, proto, byte(length>>8), byte(length))
	}
	b := append(src.AsSlice(), dst.AsSlice()...)
	return append(b, byte(length>>24), byte(length>>16), byte(length>>8), byte(length), 0, 0, 0, proto)
}

// ipPacket wraps payload of protocol proto in an IPv4 (with df) or IPv6
// header, with a valid IPv4 header checksum.
func ipPacket(src, dst netip.Addr, proto byte, df bool, payload []byte) []byte {
	if src.Is4() {
		h := make([]byte, 20)
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		binary.BigEndian.PutUint16(h[4:], 0x1234)
		if df {
			h[6] = 0x40
		}
		h[8] = 64
		h[9] = proto
		copy(h[12:], src.AsSlice())
		copy(h[16:], dst.AsSlice())
		binary.BigEndian.PutUint16(h[10:], sum16(h))
		return append(h, payload...)
	}
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6] = proto
	h[7] = 64
	copy(h[8:], src.AsSlice())
	copy(h[24:], dst.AsSlice())
	return append(h, payload...)
}

// tcpPacket builds a TCP segment with the given flags and options and
// payloadLen bytes of payload, with a valid checksum.
func tcpPacket(src, dst netip.Addr, flags byte, opts []byte, payloadLen int) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	seg := make([]byte, 20+len(opts)+payloadLen)
	binary.BigEndian.PutUint16(seg[0:], 40000)
	binary.BigEndian.PutUint16(seg[2:], 443)
	binary.BigEndian.PutUint32(seg[4:], 0x01020304)
	seg[12] = byte((20 + len(opts)) / 4 << 4)
	seg[13] = flags
	binary.BigEndian.PutUint16(seg[14:], 65535)
	copy(seg[20:], opts)
	for i := 20 + len(opts); i < len(seg); i++ {
		seg[i] = byte(i * 7)
	}
	binary.BigEndian.PutUint16(seg[16:], sum16(pseudo(src, dst, protoTCP, len(seg)), seg))
	return ipPacket(src, dst, protoTCP, true, seg)
}

// tcpChecksumOK verifies the TCP checksum of pkt.
func tcpChecksumOK(pkt []byte) bool {
	var src, dst netip.Addr
	var seg []byte
	if pkt[0]>>4 == 4 {
		h, err := ipv4.ParseHeader(pkt)
		if err != nil {
			return false
		}
		src, _ = netip.AddrFromSlice(h.Src.To4())
		dst, _ = netip.AddrFromSlice(h.Dst.To4())
		seg = pkt[h.Len:h.TotalLen]
	} else {
		h, err := ipv6.ParseHeader(pkt)
		if err != nil {
			return false
		}
		src, _ = netip.AddrFromSlice(h.Src)
		dst, _ = netip.AddrFromSlice(h.Dst)
		seg = pkt[40 : 40+h.PayloadLen]
	}
	return sum16(pseudo(src, dst, protoTCP, len(seg)), seg) == 0
}

// mssOf returns the MSS option of the TCP segment in pkt, -1 if none.
func mssOf(pkt []byte) int {
	seg := tcpSegment(pkt)
	opts := seg[20 : int(seg[12]>>4)*4]
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0:
			return -1
		case 1:
			i++
			continue
		case 2:
			return int(binary.BigEndian.Uint16(opts[i+2:]))
		}
		i += int(opts[i+1])
	}
	return -1
}

var (
	mssOpt1460 = []byte{2, 4, 0x05, 0xb4}
	// An MSS option at an odd offset from the TCP header (after a NOP),
	// as some stacks lay options out.
	mssOptOdd = []byte{1, 2, 4, 0x05, 0xb4, 1, 1, 1}
	// Window scale, SACK permitted, timestamps, then MSS.
	mssOptLate = []byte{3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 2, 4, 0x23, 0x28}
)

func TestClampMSS(t *testing.T) {
	for _, c := range []struct {
		name     string
		pkt      []byte
		mss      int
		changed  bool
		wantMSS  int
		wantSize int
	}{
		{"v4 SYN", tcpPacket(testSrc4, testDst4, 0x02, mssOpt1460, 0), 1176, true, 1176, 0},
		{"v4 SYN-ACK", tcpPacket(testSrc4, testDst4, 0x12, mssOpt1460, 0), 1176, true, 1176, 0},
		{"v6 SYN", tcpPacket(testSrc6, testDst6, 0x02, mssOpt1460, 0), 1156, true, 1156, 0},
		{"odd offset", tcpPacket(testSrc4, testDst4, 0x02, mssOptOdd, 0), 1000, true, 1000, 0},
		{"after other options", tcpPacket(testSrc6, testDst6, 0x02, mssOptLate, 0), 1200, true, 1200, 0},
		{"already small", tcpPacket(testSrc4, testDst4, 0x02, []byte{2, 4, 0x02, 0x00}, 0), 1176, false, 512, 0},
		{"not a SYN", tcpPacket(testSrc4, testDst4, 0x10, mssOpt1460, 100), 1176, false, 1460, 0},
		{"no options", tcpPacket(testSrc4, testDst4, 0x02, nil, 0), 1176, false, -1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			orig := bytes.Clone(c.pkt)
			if got := clampMSS(c.pkt, c.mss); got != c.changed {
				t.Fatalf("clampMSS = %v, want %v", got, c.changed)
			}
			if !c.changed && !bytes.Equal(orig, c.pkt) {
				t.Fatal("packet changed although clampMSS said it did not")
			}
			if got := mssOf(c.pkt); got != c.wantMSS {
				t.Fatalf("MSS = %d, want %d", got, c.wantMSS)
			}
			if !tcpChecksumOK(c.pkt) {
				t.Fatal("TCP checksum invalid after clamping")
			}
		})
	}
	if clampMSS(ipPacket(testSrc4, testDst4, 17, true, make([]byte, 40)), 500) {
		t.Fatal("clamped a UDP packet")
	}
}

func TestMaxMSS(t *testing.T) {
	if got := maxMSS(4, 1216); got != 1176 {
		t.Errorf("IPv4 MSS for 1216 = %d", got)
	}
	if got := maxMSS(6, 1216); got != 1156 {
		t.Errorf("IPv6 MSS for 1216 = %d", got)
	}
}

func TestFragNeeded(t *testing.T) {
	pkt := tcpPacket(testSrc4, testDst4, 0x10, nil, 1400-40)
	out := make([]byte, ipv4MaxICMPLen)
	n := appendFragNeeded(out, pkt, 1216)
	if n != ipv4MaxICMPLen {
		t.Fatalf("error is %d bytes, want %d (quote as much as fits 576)", n, ipv4MaxICMPLen)
	}
	h, err := ipv4.ParseHeader(out[:n])
	if err != nil {
		t.Fatal(err)
	}
	if h.Protocol != protoICMP || h.TotalLen != n || !h.Src.Equal(testDst4.AsSlice()) || !h.Dst.Equal(testSrc4.AsSlice()) {
		t.Fatalf("IP header %v", h)
	}
	if sum16(out[:h.Len]) != 0 {
		t.Fatal("IPv4 header checksum invalid")
	}
	body := out[h.Len:n]
	m, err := icmp.ParseMessage(protoICMP, body)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != ipv4.ICMPTypeDestinationUnreachable || m.Code != 4 {
		t.Fatalf("ICMP type %v code %d", m.Type, m.Code)
	}
	du, ok := m.Body.(*icmp.DstUnreach)
	if !ok || !bytes.Equal(du.Data, pkt[:len(du.Data)]) || len(du.Data) != n-28 {
		t.Fatalf("quote is not the start of the packet: %T", m.Body)
	}
	if mtu := binary.BigEndian.Uint16(body[6:8]); mtu != 1216 {
		t.Fatalf("next-hop MTU %d", mtu)
	}
	if sum16(body) != 0 {
		t.Fatal("ICMP checksum invalid")
	}
}

func TestPacketTooBig(t *testing.T) {
	pkt := tcpPacket(testSrc6, testDst6, 0x10, nil, 1400-60)
	out := make([]byte, ipv6MinMTU)
	n := appendPacketTooBig(out, pkt, 1280)
	if n != ipv6MinMTU {
		t.Fatalf("error is %d bytes, want 1280", n)
	}
	h, err := ipv6.ParseHeader(out[:n])
	if err != nil {
		t.Fatal(err)
	}
	if h.NextHeader != protoICMPv6 || h.PayloadLen != n-40 || !h.Src.Equal(testDst6.AsSlice()) || !h.Dst.Equal(testSrc6.AsSlice()) {
		t.Fatalf("IPv6 header %v", h)
	}
	body := out[40:n]
	m, err := icmp.ParseMessage(protoICMPv6, body)
	if err != nil {
		t.Fatal(err)
	}
	ptb, ok := m.Body.(*icmp.PacketTooBig)
	if !ok || ptb.MTU != 1280 || !bytes.Equal(ptb.Data, pkt[:len(ptb.Data)]) {
		t.Fatalf("body %T %+v", m.Body, m.Body)
	}
	// x/net/icmp computes the ICMPv6 checksum over its pseudo-header when
	// marshalling; the result must be byte for byte ours.
	ref, err := m.Marshal(icmp.IPv6PseudoHeader(h.Src, h.Dst))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ref, body) {
		t.Fatalf("ICMPv6 message differs from x/net's marshalling (checksum %x vs %x)", body[2:4], ref[2:4])
	}
}

func TestTooBigAllowed(t *testing.T) {
	icmpErr := ipPacket(testSrc4, testDst4, protoICMP, true, append([]byte{3, 4, 0, 0, 0, 0, 5, 0}, make([]byte, 28)...))
	echo := ipPacket(testSrc4, testDst4, protoICMP, true, append([]byte{8, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 28)...))
	ptb := ipPacket(testSrc6, testDst6, protoICMPv6, true, append([]byte{2, 0, 0, 0, 0, 0, 5, 0}, make([]byte, 48)...))
	mcast := ipPacket(testSrc4, netip.MustParseAddr("239.1.2.3"), 17, true, make([]byte, 30))
	unspec := ipPacket(netip.IPv6Unspecified(), testDst6, 17, true, make([]byte, 30))
	frag := ipPacket(testSrc4, testDst4, 17, true, make([]byte, 30))
	frag[7] = 10 // offset 80
	for _, c := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"TCP", tcpPacket(testSrc4, testDst4, 0x10, nil, 10), true},
		{"ICMP echo", echo, true},
		{"ICMP error", icmpErr, false},
		{"ICMPv6 error", ptb, false},
		{"multicast destination", mcast, false},
		{"unspecified source", unspec, false},
		{"non-first fragment", frag, false},
		{"garbage", []byte{0x45, 1, 2}, false},
	} {
		if got := tooBigAllowed(c.pkt); got != c.want {
			t.Errorf("%s: tooBigAllowed = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestFragmentIPv4(t *testing.T) {
	// A UDP packet without DF, once without options and once with a
	// copied (0x83, loose source route) and a not-copied (0x07, record
	// route) option.
	withOpts := func(pkt []byte, opts []byte) []byte {
		ihl := 20 + len(opts)
		out := append(append(bytes.Clone(pkt[:20]), opts...), pkt[20:]...)
		out[0] = 0x40 | byte(ihl/4)
		binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
		out[10], out[11] = 0, 0
		binary.BigEndian.PutUint16(out[10:], sum16(out[:ihl]))
		return out
	}
	payload := make([]byte, 2900)
	for i := range payload {
		payload[i] = byte(i*13 + 1)
	}
	plain := ipPacket(testSrc4, testDst4, 17, false, payload)
	opts := withOpts(plain, []byte{0x83, 7, 4, 192, 0, 2, 1, 0x07, 7, 4, 0, 0, 0, 0, 1, 1})
	for _, c := range []struct {
		name  string
		pkt   []byte
		limit int
	}{
		{"plain", plain, 1216},
		{"options", opts, 1216},
		{"minimum", plain, MinPeerMTU},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.pkt = bytes.Clone(c.pkt)
			orig := bytes.Clone(c.pkt)
			k := ipv4Fragments(c.pkt, c.limit)
			if k < 2 {
				t.Fatalf("ipv4Fragments = %d", k)
			}
			out := make([][]byte, k-1)
			for i := range out {
				out[i] = make([]byte, 2000)
			}
			sizes := make([]int, k-1)
			head := fragmentIPv4(c.pkt, c.limit, out, sizes)
			frags := [][]byte{head}
			for i := range out {
				frags = append(frags, out[i][:sizes[i]])
			}
			// Reassemble with x/net's header parser.
			ihl0 := int(orig[0]&0xf) * 4
			got := make([]byte, len(orig)-ihl0)
			seen := 0
			for i, f := range frags {
				if len(f) > c.limit {
					t.Fatalf("fragment %d is %d bytes, over %d", i, len(f), c.limit)
				}
				h, err := ipv4.ParseHeader(f)
				if err != nil {
					t.Fatal(err)
				}
				if sum16(f[:h.Len]) != 0 {
					t.Fatalf("fragment %d: header checksum invalid", i)
				}
				if h.TotalLen != len(f) || h.ID != 0x1234 || h.Protocol != 17 {
					t.Fatalf("fragment %d: header %v", i, h)
				}
				last := i == len(frags)-1
				if (h.Flags&ipv4.MoreFragments != 0) == last {
					t.Fatalf("fragment %d: MF=%v", i, !last)
				}
				if i > 0 && h.Len > 20 && !bytes.Equal(f[20:27], orig[20:27]) {
					t.Fatalf("fragment %d: copied option missing", i)
				}
				if i > 0 && h.Len > 20 && bytes.Contains(f[20:h.Len], []byte{0x07, 7}) {
					t.Fatalf("fragment %d: not-copied option copied", i)
				}
				if i < len(frags)-1 && (len(f)-h.Len)%8 != 0 {
					t.Fatalf("fragment %d: data %d not a multiple of 8", i, len(f)-h.Len)
				}
				seen += copy(got[h.FragOff*8:], f[h.Len:]) // x/net counts in 8-byte units
			}
			if seen != len(got) || !bytes.Equal(got, orig[ihl0:]) {
				t.Fatal("reassembled payload differs")
			}
		})
	}
	df := ipPacket(testSrc4, testDst4, 17, true, payload)
	if ipv4Fragments(df, 1216) != 0 {
		t.Fatal("would fragment a DF packet")
	}
}
