package tunnel

// IPv4 packets without DF over their peer's limit are fragmented here, as
// a router on the path would (RFC 791): the sender allowed it, and its
// stack may never learn the limit (no DF, so no ICMP is expected).

// ipv4Fragments returns how many fragments fragmentIPv4 makes of pkt for
// limit, 0 if pkt cannot be fragmented (DF set, malformed header, or a
// limit that leaves no room for 8 bytes of data).
func ipv4Fragments(pkt []byte, limit int) int {
	ihl := ipv4IHL(pkt)
	if ihl == 0 || pkt[6]&ipv4FlagDF != 0 {
		return 0
	}
	total := int(be.Uint16(pkt[2:4]))
	if total != len(pkt) || total <= limit {
		return 0
	}
	first := (limit - ihl) &^ 7
	rest := (limit - ipv4HeaderLen - (copiedOptionsLen(pkt[ipv4HeaderLen:ihl])+3)&^3) &^ 7
	if first < 8 || rest < 8 {
		return 0
	}
	data := total - ihl - first
	return 1 + (data+rest-1)/rest
}

// fragmentIPv4 splits the IPv4 packet pkt (see ipv4Fragments) so that no
// fragment exceeds limit: the first fragment stays in pkt (which is
// returned shortened), the others are written to the front of each of
// out, whose lengths it sets in sizes. len(out) must be
// ipv4Fragments(pkt, limit)-1 and each must hold limit bytes. Fragments
// after the first carry only the options marked to be copied.
func fragmentIPv4(pkt []byte, limit int, out [][]byte, sizes []int) []byte {
	ihl := ipv4IHL(pkt)
	total := len(pkt)
	first := (limit - ihl) &^ 7
	flags := be.Uint16(pkt[6:8])
	baseOff := int(flags&0x1fff) * 8
	lastMF := flags & (ipv4FlagMF << 8)

	// Header of the later fragments: the base header plus copied options,
	// padded to 4 bytes.
	var hdr [60]byte
	copy(hdr[:ipv4HeaderLen], pkt[:ipv4HeaderLen])
	hl := ipv4HeaderLen + appendCopiedOptions(hdr[ipv4HeaderLen:], pkt[ipv4HeaderLen:ihl])
	for hl%4 != 0 {
		hdr[hl] = 0 // end of option list
		hl++
	}
	hdr[0] = 0x40 | byte(hl/4)
	rest := (limit - hl) &^ 7

	pos := ihl + first
	for i := range out {
		n := min(rest, total-pos)
		f := out[i][:hl+n]
		copy(f, hdr[:hl])
		copy(f[hl:], pkt[pos:pos+n])
		off := baseOff + pos - ihl
		mf := uint16(ipv4FlagMF << 8)
		if pos+n == total {
			mf = lastMF
		}
		be.PutUint16(f[2:4], uint16(hl+n))
		be.PutUint16(f[6:8], mf|uint16(off/8))
		ipv4HeaderChecksum(f[:hl])
		sizes[i] = hl + n
		pos += n
	}
	head := pkt[:ihl+first]
	be.PutUint16(head[2:4], uint16(ihl+first))
	be.PutUint16(head[6:8], uint16(ipv4FlagMF<<8)|uint16(baseOff/8))
	ipv4HeaderChecksum(head[:ihl])
	return head
}

// copiedOptionsLen is the length of the IPv4 options in opts whose copied
// flag is set.
func copiedOptionsLen(opts []byte) int {
	var buf [40]byte
	return appendCopiedOptions(buf[:], opts)
}

// appendCopiedOptions writes the options of opts with the copied flag
// (0x80) to dst and returns their length. A malformed option ends the
// list.
func appendCopiedOptions(dst, opts []byte) int {
	n := 0
	for i := 0; i < len(opts); {
		kind := opts[i]
		if kind == 0 {
			break
		}
		if kind == 1 {
			i++
			continue
		}
		if i+1 >= len(opts) {
			break
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			break
		}
		if kind&0x80 != 0 && n+l <= len(dst) {
			n += copy(dst[n:], opts[i:i+l])
		}
		i += l
	}
	return n
}
