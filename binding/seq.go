package binding

// SeqNewer reports whether sequence number next is newer than last under
// the modulo-2^16 comparison of RFC 6275 §9.5.1: next is newer when it lies
// 1 to 32767 steps after last. Equal numbers are not newer (a replay), and
// neither is a number exactly 32768 steps away. With last = 15: 14 and
// 32783 are not newer, 16 and 32782 are; with last = 65535, 0 is newer.
func SeqNewer(next, last uint16) bool {
	d := next - last
	return d != 0 && d < 1<<15
}
