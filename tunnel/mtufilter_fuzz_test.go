package tunnel

import (
	"bytes"
	"log/slog"
	"testing"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// FuzzMTUFilter feeds one arbitrary packet through the read side of the
// filter with every destination behind a peer of the given limit, and
// one through the write side. It must never panic, never hand on an
// IPv4 packet over the limit or an IPv6 one over max(limit, 1280) that
// it recognised, keep TCP checksums valid, and write only well-formed
// ICMP errors.
func FuzzMTUFilter(f *testing.F) {
	f.Add(tcpPacket(testSrc4, testDst4, 0x02, mssOptOdd, 0), uint16(1220))
	f.Add(tcpPacket(testSrc6, testDst6, 0x12, mssOptLate, 0), uint16(600))
	f.Add(tcpPacket(testSrc4, testDst4, 0x10, nil, 1380), uint16(1252))
	f.Add(tcpPacket(testSrc6, testDst6, 0x10, nil, 1340), uint16(1220))
	f.Add(ipPacket(testSrc4, testDst4, 17, false, make([]byte, 1380)), uint16(576))
	f.Add([]byte{0x46, 0, 0, 0}, uint16(1000))
	f.Fuzz(func(t *testing.T, in []byte, limit uint16) {
		if len(in) > DefaultMTU {
			return // the TUN never reads more than its MTU
		}
		lim := MinPeerMTU + int(limit)%(DefaultMTU-MinPeerMTU)
		ft := &fakeTUN{queue: [][]byte{in}}
		filt := newMTUFilter(ft, slog.New(slog.DiscardHandler))
		r := newPeerRoutes(DefaultMTU)
		r.setAllowed(key(1), pfxs("0.0.0.0/0", "::/0"))
		r.setMTU(key(1), lim)
		filt.setTable(r.table())
		enf := enforcedMTU(lim, DefaultMTU)

		validTCP := tcpSegment(in) != nil && len(in) >= 40 && lengthMatches(in) && tcpChecksumOK(in)
		bufs, sizes := batch(1 + maxExtraFragments)
		n, err := filt.Read(bufs, sizes, 16)
		if err != nil || n < 1 {
			t.Fatalf("Read: %d, %v", n, err)
		}
		for i := 0; i < n; i++ {
			out := bufs[i][16 : 16+sizes[i]]
			if sizes[i] == 0 {
				continue
			}
			switch ipVersion(out) {
			case 4:
				if ipv4IHL(out) != 0 && len(out) > enf && lengthMatches(in) {
					t.Fatalf("IPv4 packet of %d bytes handed on, limit %d", len(out), enf)
				}
				if n > 1 && sum16(out[:ipv4IHL(out)]) != 0 {
					t.Fatalf("fragment %d: bad header checksum", i)
				}
			case 6:
				if len(out) > max(enf, ipv6MinMTU) {
					t.Fatalf("IPv6 packet of %d bytes handed on, limit %d", len(out), enf)
				}
			}
		}
		if validTCP && sizes[0] != 0 && !tcpChecksumOK(bufs[0][16:16+sizes[0]]) {
			t.Fatal("TCP checksum broken")
		}
		for _, e := range ft.written {
			checkTooBig(t, e)
		}

		// The write side only ever clamps.
		w := append(make([]byte, 16), in...)
		ft.written = nil
		if _, err := filt.Write([][]byte{w}, 16); err != nil {
			t.Fatal(err)
		}
		if len(ft.written[0]) != len(in) {
			t.Fatal("Write changed the packet's length")
		}
		if validTCP && !tcpChecksumOK(ft.written[0]) {
			t.Fatal("TCP checksum broken on the write side")
		}
	})
}

// lengthMatches reports whether an IP packet's length field agrees with
// its size (what a packet read from the TUN always satisfies).
func lengthMatches(pkt []byte) bool {
	switch ipVersion(pkt) {
	case 4:
		return int(be.Uint16(pkt[2:4])) == len(pkt)
	case 6:
		return int(be.Uint16(pkt[4:6]))+ipv6HeaderLen == len(pkt)
	}
	return false
}

// checkTooBig fails unless e is a well-formed "too big" error.
func checkTooBig(t *testing.T, e []byte) {
	t.Helper()
	switch ipVersion(e) {
	case 4:
		if sum16(e[:20]) != 0 || sum16(e[20:]) != 0 || len(e) > ipv4MaxICMPLen {
			t.Fatal("bad IPv4 error checksum or size")
		}
		m, err := icmp.ParseMessage(protoICMP, e[20:])
		if err != nil || m.Code != 4 {
			t.Fatalf("IPv4 error: %v %+v", err, m)
		}
	case 6:
		h, err := ipv6.ParseHeader(e)
		if err != nil || len(e) > ipv6MinMTU {
			t.Fatal(err)
		}
		m, err := icmp.ParseMessage(protoICMPv6, e[40:])
		if err != nil {
			t.Fatal(err)
		}
		ref, err := m.Marshal(icmp.IPv6PseudoHeader(h.Src, h.Dst))
		if err != nil || !bytes.Equal(ref, e[40:]) {
			t.Fatal("ICMPv6 error differs from its marshalling")
		}
	default:
		t.Fatalf("unparseable error written: %x", e)
	}
}
