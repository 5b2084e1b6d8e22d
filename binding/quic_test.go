package binding

import (
	"testing"
	"time"
)

func TestPathMTUSettle(t *testing.T) {
	for _, tc := range []struct{ srtt, want time.Duration }{
		{0, 3 * time.Second},
		{time.Millisecond, 250 * time.Millisecond},
		{20 * time.Millisecond, 420 * time.Millisecond},
		{60 * time.Millisecond, 1260 * time.Millisecond},
		{time.Second, 3 * time.Second},
	} {
		if got := PathMTUSettle(tc.srtt); got != tc.want {
			t.Errorf("PathMTUSettle(%v) = %v, want %v", tc.srtt, got, tc.want)
		}
	}
}
