package tunnel

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"
)

// nativeEndian is the byte order of socket control messages.
var nativeEndian = binary.NativeEndian

var (
	stickyControlSize = unix.CmsgSpace(unix.SizeofInet6Pktinfo)
	gsoControlSize    = unix.CmsgSpace(2)
)

// gsoSizeOf returns the UDP_GRO segment size in control, 0 if none.
func gsoSizeOf(control []byte) (int, error) {
	rem := control
	for len(rem) > unix.SizeofCmsghdr {
		hdr, data, r, err := unix.ParseOneSocketControlMessage(rem)
		if err != nil {
			return 0, fmt.Errorf("tunnel: parsing socket control message: %w", err)
		}
		rem = r
		if hdr.Level == unix.SOL_UDP && hdr.Type == unix.UDP_GRO && len(data) >= 2 {
			return int(nativeEndian.Uint16(data[:2])), nil
		}
	}
	return 0, nil
}

// segmentSizeOf returns the UDP_SEGMENT (GSO) size in control as written
// by appendGSO, 0 if none.
func segmentSizeOf(control []byte) int {
	rem := control
	for len(rem) > unix.SizeofCmsghdr {
		hdr, data, r, err := unix.ParseOneSocketControlMessage(rem)
		if err != nil {
			return 0
		}
		rem = r
		if hdr.Level == unix.SOL_UDP && hdr.Type == unix.UDP_SEGMENT && len(data) >= 2 {
			return int(nativeEndian.Uint16(data[:2]))
		}
	}
	return 0
}

// parsePktinfo returns the destination address and interface of a
// received datagram from its IP_PKTINFO/IPV6_PKTINFO control message.
func parsePktinfo(control []byte) (netip.Addr, int32) {
	rem := control
	for len(rem) > unix.SizeofCmsghdr {
		hdr, data, r, err := unix.ParseOneSocketControlMessage(rem)
		if err != nil {
			return netip.Addr{}, 0
		}
		rem = r
		switch {
		case hdr.Level == unix.IPPROTO_IP && hdr.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
			idx := int32(nativeEndian.Uint32(data[0:4]))
			return netip.AddrFrom4([4]byte(data[4:8])), idx
		case hdr.Level == unix.IPPROTO_IPV6 && hdr.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo { in6_addr addr; int ifindex; }
			idx := int32(nativeEndian.Uint32(data[16:20]))
			return netip.AddrFrom16([16]byte(data[0:16])), idx
		}
	}
	return netip.Addr{}, 0
}

// srcControl appends to control an IP_PKTINFO/IPV6_PKTINFO message that
// makes the kernel send from src. ifidx is left 0 for IPv4 so that the
// route decides the interface; for IPv6 it scopes link-local sources.
func srcControl(control []byte, src netip.Addr, ifidx int32) []byte {
	if src.Is4() || src.Is4In6() {
		var info unix.Inet4Pktinfo
		info.Spec_dst = src.Unmap().As4()
		return appendCmsg(control, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo, func(d []byte) {
			copy(d[4:8], info.Spec_dst[:])
		})
	}
	a := src.As16()
	return appendCmsg(control, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo, func(d []byte) {
		copy(d[0:16], a[:])
		if src.IsLinkLocalUnicast() {
			nativeEndian.PutUint32(d[16:20], uint32(ifidx))
		}
	})
}

// appendCmsg appends one control message with a zeroed payload of n bytes
// that fill then writes.
func appendCmsg(control []byte, level, typ int32, n int, fill func([]byte)) []byte {
	space := unix.CmsgSpace(n)
	start := len(control)
	control = slices.Grow(control, space)[:start+space]
	h := control[start:]
	clear(h)
	hdr := unix.Cmsghdr{Level: level, Type: typ}
	hdr.SetLen(unix.CmsgLen(n))
	putCmsghdr(h, hdr)
	fill(h[unix.CmsgLen(0):unix.CmsgLen(n)])
	return control
}

// putCmsghdr writes hdr in native layout.
func putCmsghdr(b []byte, hdr unix.Cmsghdr) {
	// struct cmsghdr { size_t len; int level; int type; } on 64-bit Linux,
	// { uint32 len; int level; int type; } on 32-bit.
	if unix.SizeofCmsghdr == 16 {
		nativeEndian.PutUint64(b[0:8], uint64(hdr.Len))
		nativeEndian.PutUint32(b[8:12], uint32(hdr.Level))
		nativeEndian.PutUint32(b[12:16], uint32(hdr.Type))
		return
	}
	nativeEndian.PutUint32(b[0:4], uint32(hdr.Len))
	nativeEndian.PutUint32(b[4:8], uint32(hdr.Level))
	nativeEndian.PutUint32(b[8:12], uint32(hdr.Type))
}

// appendGSO appends a UDP_SEGMENT message asking the kernel to split the
// datagram into segments of size.
func appendGSO(control []byte, size uint16) []byte {
	return appendCmsg(control, unix.SOL_UDP, unix.UDP_SEGMENT, 2, func(d []byte) {
		nativeEndian.PutUint16(d, size)
	})
}
