package tunnel

// The "too big" errors the data path writes back into the TUN when it
// drops an inner packet over its peer's limit.
//
// Source address: the error comes from the dropped packet's destination.
// That address is routed through the tunnel, so the kernel accepts the
// error arriving on the TUN (a source that is one of the host's own
// addresses would be dropped as martian, and one routed elsewhere fails
// reverse-path filtering). On a home agent the kernel forwards the error
// to the inner sender like any packet from a device; on a mobile node it
// is delivered to the local socket. Linux applies ICMP "fragmentation
// needed" and "packet too big" to the route of the quoted destination
// whoever sent them, and TCP checks that the quoted segment belongs to a
// connection and its window, which the verbatim quote satisfies.

const (
	icmpv4TypeDestUnreach  = 3
	icmpv4CodeFragNeeded   = 4
	icmpv6TypePacketTooBig = 2
	icmpHeaderLen          = 8
)

// tooBigAllowed reports whether an ICMP error may be sent about pkt: not
// about an ICMP error, a non-first IPv4 fragment, or a packet whose source
// cannot receive one (unspecified, multicast, loopback) or whose
// destination is multicast or broadcast (RFC 1812 §4.3.2.7, RFC 4443
// §2.4).
func tooBigAllowed(pkt []byte) bool {
	v := ipVersion(pkt)
	if v == 0 {
		return false
	}
	src, dst := srcAddr(pkt), dstAddr(pkt)
	if !src.IsValid() || src.IsUnspecified() || src.IsMulticast() || src.IsLoopback() ||
		dst.IsMulticast() || dst.IsUnspecified() {
		return false
	}
	if v == 4 {
		ihl := ipv4IHL(pkt)
		if ihl == 0 || ipv4FragOffset(pkt) != 0 || dst.As4() == [4]byte{255, 255, 255, 255} {
			return false
		}
		if pkt[9] == protoICMP && len(pkt) > ihl {
			switch pkt[ihl] { // errors: unreachable, source quench, redirect, time exceeded, parameter problem
			case 3, 4, 5, 11, 12:
				return false
			}
		}
		return true
	}
	if pkt[6] == protoICMPv6 && len(pkt) > ipv6HeaderLen && pkt[ipv6HeaderLen] < 128 {
		return false
	}
	return true
}

// appendFragNeeded writes into out an IPv4 packet carrying ICMP
// "fragmentation needed" (type 3 code 4) about the IPv4 packet pkt with
// next-hop MTU mtu, quoting as much of pkt as fits in 576 bytes, and
// returns its length. out must hold 576 bytes.
func appendFragNeeded(out, pkt []byte, mtu int) int {
	quote := min(len(pkt), ipv4MaxICMPLen-ipv4HeaderLen-icmpHeaderLen)
	total := ipv4HeaderLen + icmpHeaderLen + quote
	ip := out[:total]
	clear(ip[:ipv4HeaderLen+icmpHeaderLen])
	ip[0] = 0x45
	ip[1] = 0xc0 // internetwork control, as routers send errors
	be.PutUint16(ip[2:4], uint16(total))
	ip[8] = 64
	ip[9] = protoICMP
	copy(ip[12:16], pkt[16:20]) // from the unreachable destination
	copy(ip[16:20], pkt[12:16]) // to the sender
	ipv4HeaderChecksum(ip[:ipv4HeaderLen])
	icmp := ip[ipv4HeaderLen:]
	icmp[0] = icmpv4TypeDestUnreach
	icmp[1] = icmpv4CodeFragNeeded
	be.PutUint16(icmp[6:8], uint16(mtu))
	copy(icmp[icmpHeaderLen:], pkt[:quote])
	be.PutUint16(icmp[2:4], checksumFold(checksumAdd(0, icmp)))
	return total
}

// appendPacketTooBig writes into out an IPv6 packet carrying ICMPv6
// "packet too big" about the IPv6 packet pkt with MTU mtu, quoting as
// much of pkt as fits in 1280 bytes (RFC 4443 §3.2), and returns its
// length. out must hold 1280 bytes.
func appendPacketTooBig(out, pkt []byte, mtu int) int {
	quote := min(len(pkt), ipv6MinMTU-ipv6HeaderLen-icmpHeaderLen)
	plen := icmpHeaderLen + quote
	ip := out[:ipv6HeaderLen+plen]
	clear(ip[:ipv6HeaderLen+icmpHeaderLen])
	ip[0] = 0x60
	be.PutUint16(ip[4:6], uint16(plen))
	ip[6] = protoICMPv6
	ip[7] = 64
	copy(ip[8:24], pkt[24:40]) // from the unreachable destination
	copy(ip[24:40], pkt[8:24]) // to the sender
	icmp := ip[ipv6HeaderLen:]
	icmp[0] = icmpv6TypePacketTooBig
	be.PutUint32(icmp[4:8], uint32(mtu))
	copy(icmp[icmpHeaderLen:], pkt[:quote])
	// Pseudo-header: source, destination, upper-layer length, next header.
	sum := checksumAdd(0, ip[8:40])
	sum += uint32(plen)
	sum += protoICMPv6
	be.PutUint16(icmp[2:4], checksumFold(checksumAdd(sum, icmp)))
	return len(ip)
}
