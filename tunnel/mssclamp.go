package tunnel

// maxMSS returns the largest TCP MSS that keeps a segment of an IP packet
// of the given version within limit bytes.
func maxMSS(version, limit int) int {
	if version == 6 {
		return limit - ipv6HeaderLen - tcpHeaderLen
	}
	return limit - ipv4HeaderLen - tcpHeaderLen
}

// clampMSS lowers the MSS option of a TCP SYN or SYN-ACK in pkt to mss if
// it is larger, updating the TCP checksum incrementally, and reports
// whether it changed the packet. Anything that is not a SYN with a
// well-formed MSS option is left alone. An IPv4 options or IPv6 extension
// header chain before TCP is not followed (IPv6 with extension headers is
// left alone).
func clampMSS(pkt []byte, mss int) bool {
	seg := tcpSegment(pkt)
	if seg == nil || seg[13]&tcpFlagSYN == 0 || mss <= 0 {
		return false
	}
	doff := int(seg[12]>>4) * 4
	if doff <= tcpHeaderLen || doff > len(seg) {
		return false
	}
	opts := seg[tcpHeaderLen:doff]
	for i := 0; i < len(opts); {
		switch kind := opts[i]; kind {
		case 0: // end of options
			return false
		case 1: // no-op
			i++
			continue
		}
		if i+1 >= len(opts) {
			return false
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			return false
		}
		if opts[i] == 2 && l == 4 {
			old := be.Uint16(opts[i+2 : i+4])
			if int(old) <= mss {
				return false
			}
			// The option is at an even offset from the segment start only
			// if i is even; the checksum works on 16-bit words of the
			// segment, so update the word(s) the two bytes sit in.
			off := tcpHeaderLen + i + 2
			updateTCPWord16(seg, off, uint16(mss))
			return true
		}
		i += l
	}
	return false
}

// updateTCPWord16 stores v at seg[off:off+2] and updates the TCP checksum
// (seg[16:18]) incrementally, whatever the alignment of off.
func updateTCPWord16(seg []byte, off int, v uint16) {
	csum := be.Uint16(seg[16:18])
	if off%2 == 0 {
		old := be.Uint16(seg[off : off+2])
		be.PutUint16(seg[off:off+2], v)
		csum = checksumUpdate(csum, old, v)
	} else {
		// Odd offset: the value straddles two checksum words.
		w0, w1 := off-1, off+1
		old0, old1 := be.Uint16(seg[w0:w0+2]), be.Uint16(seg[w1:w1+2])
		be.PutUint16(seg[off:off+2], v)
		csum = checksumUpdate(csum, old0, be.Uint16(seg[w0:w0+2]))
		csum = checksumUpdate(csum, old1, be.Uint16(seg[w1:w1+2]))
	}
	be.PutUint16(seg[16:18], csum)
}
