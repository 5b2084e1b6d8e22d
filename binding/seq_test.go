package binding

import "testing"

func TestSeqNewerRFC6275Vectors(t *testing.T) {
	cases := []struct {
		last, next uint16
		want       bool
	}{
		// RFC 6275 §9.5.1: "if a Binding Update is received with Sequence
		// Number 15 ... 14 ... 32783 rejected, 32782 accepted".
		{15, 14, false},
		{15, 32783, false},
		{15, 32782, true},
		{15, 15, false},
		{15, 16, true},
		// Wrap-around.
		{65535, 0, true},
		{65535, 1, true},
		{65535, 32766, true},
		{65535, 32767, false},
		{65535, 65534, false},
		{0, 65535, false},
		{0, 32767, true},
		{0, 32768, false},
		{40000, 7231, true}, // 40000 + 32767 wraps to 7231
		{40000, 7232, false},
		{32768, 0, false},
		{32768, 65535, true},
	}
	for _, c := range cases {
		if got := SeqNewer(c.next, c.last); got != c.want {
			t.Errorf("SeqNewer(next %d, last %d) = %v, want %v", c.next, c.last, got, c.want)
		}
	}
}

// TestSeqNewerAntisymmetric: for any two distinct numbers not half the
// space apart, exactly one is newer.
func TestSeqNewerAntisymmetric(t *testing.T) {
	for a := 0; a < 1<<16; a += 97 {
		for b := 0; b < 1<<16; b += 89 {
			x, y := uint16(a), uint16(b)
			if x == y || x-y == 1<<15 {
				if SeqNewer(x, y) || SeqNewer(y, x) {
					t.Fatalf("%d vs %d: one is newer", x, y)
				}
				continue
			}
			if SeqNewer(x, y) == SeqNewer(y, x) {
				t.Fatalf("%d vs %d: SeqNewer not antisymmetric", x, y)
			}
		}
	}
}
