package tunnel

import (
	"encoding/binary"
	"net/netip"
)

// Offsets and constants of the inner IP packets the data path inspects.
// The parsers here never allocate and never read beyond the slice; a
// packet they cannot make sense of is left alone.
const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	tcpHeaderLen  = 20
	protoICMP     = 1
	protoTCP      = 6
	protoICMPv6   = 58
	ipv4FlagDF    = 0x40 // in byte 6 of the IPv4 header
	ipv4FlagMF    = 0x20
	tcpFlagSYN    = 0x02
	// ipv6MinMTU is the smallest link MTU IPv6 allows (RFC 8200 §5).
	ipv6MinMTU = 1280
	// ipv4MaxICMPLen is the largest ICMP error a router sends (RFC 1812
	// §4.3.2.3: as much of the original as fits in 576 bytes).
	ipv4MaxICMPLen = 576
)

var be = binary.BigEndian

// ipVersion returns the IP version of pkt: 4, 6, or 0 when pkt is too
// short to be either.
func ipVersion(pkt []byte) int {
	if len(pkt) == 0 {
		return 0
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) >= ipv4HeaderLen {
			return 4
		}
	case 6:
		if len(pkt) >= ipv6HeaderLen {
			return 6
		}
	}
	return 0
}

// ipv4IHL returns the IPv4 header length, 0 if the header is malformed.
func ipv4IHL(pkt []byte) int {
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < ipv4HeaderLen || ihl > len(pkt) {
		return 0
	}
	return ihl
}

// ipv4FragOffset returns the fragment offset of an IPv4 packet in bytes.
func ipv4FragOffset(pkt []byte) int { return int(be.Uint16(pkt[6:8])&0x1fff) * 8 }

// tcpSegment returns the TCP header and payload of pkt when pkt carries
// TCP directly (IPv4 first fragment or unfragmented; IPv6 without
// extension headers) with a whole TCP header, else nil.
func tcpSegment(pkt []byte) []byte {
	switch ipVersion(pkt) {
	case 4:
		ihl := ipv4IHL(pkt)
		if ihl == 0 || pkt[9] != protoTCP || ipv4FragOffset(pkt) != 0 {
			return nil
		}
		seg := pkt[ihl:]
		if len(seg) < tcpHeaderLen {
			return nil
		}
		return seg
	case 6:
		if pkt[6] != protoTCP || len(pkt) < ipv6HeaderLen+tcpHeaderLen {
			return nil
		}
		return pkt[ipv6HeaderLen:]
	}
	return nil
}

// isTCPSYN reports whether pkt is a TCP SYN or SYN-ACK. It is the check
// every packet under the limit goes through, so it is a few loads and
// compares.
func isTCPSYN(pkt []byte) bool {
	if len(pkt) < ipv4HeaderLen+tcpHeaderLen {
		return false
	}
	switch pkt[0] >> 4 {
	case 4:
		ihl := int(pkt[0]&0x0f) * 4
		return pkt[9] == protoTCP && ihl >= ipv4HeaderLen && len(pkt) >= ihl+tcpHeaderLen &&
			pkt[ihl+13]&tcpFlagSYN != 0 && pkt[6]&0x1f == 0 && pkt[7] == 0
	case 6:
		return pkt[6] == protoTCP && len(pkt) >= ipv6HeaderLen+tcpHeaderLen && pkt[ipv6HeaderLen+13]&tcpFlagSYN != 0
	}
	return false
}

// srcAddr and dstAddr return the addresses of an IPv4 or IPv6 packet
// (ipVersion(pkt) must be 4 or 6).
func srcAddr(pkt []byte) netip.Addr {
	if pkt[0]>>4 == 4 {
		return netip.AddrFrom4([4]byte(pkt[12:16]))
	}
	return netip.AddrFrom16([16]byte(pkt[8:24]))
}

func dstAddr(pkt []byte) netip.Addr {
	if pkt[0]>>4 == 4 {
		return netip.AddrFrom4([4]byte(pkt[16:20]))
	}
	return netip.AddrFrom16([16]byte(pkt[24:40]))
}

// checksumAdd adds b to the one's complement sum sum (RFC 1071).
func checksumAdd(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// checksumFold folds sum to 16 bits and complements it.
func checksumFold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// checksumUpdate returns the checksum hc after one 16-bit word of the
// covered data changed from old to new (RFC 1624, eqn. 3).
func checksumUpdate(hc, old, new uint16) uint16 {
	sum := uint32(^hc) + uint32(^old) + uint32(new)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// ipv4HeaderChecksum computes and stores the checksum of the IPv4 header
// hdr (its whole length).
func ipv4HeaderChecksum(hdr []byte) {
	hdr[10], hdr[11] = 0, 0
	be.PutUint16(hdr[10:12], checksumFold(checksumAdd(0, hdr)))
}
