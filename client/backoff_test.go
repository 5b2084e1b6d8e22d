package client

import (
	"testing"
	"time"
)

func TestBackoffGrowsAndCaps(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 10 * time.Second, Jitter: -1}
	want := []time.Duration{1, 2, 4, 8, 10, 10, 10}
	for i, w := range want {
		if got := b.Next(); got != w*time.Second {
			t.Errorf("attempt %d: %v, want %v", i, got, w*time.Second)
		}
	}
	if b.Attempts() != len(want) {
		t.Errorf("Attempts = %d", b.Attempts())
	}
	b.Reset()
	if got := b.Next(); got != time.Second {
		t.Errorf("after Reset: %v", got)
	}
}

func TestBackoffJitter(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{{0, 4 * time.Second}, {0.5, 3 * time.Second}, {0.999999, 2*time.Second + 2*time.Microsecond}} {
		b := Backoff{Base: time.Second, Max: time.Minute, Jitter: 0.5, Rand: func() float64 { return tc.r }}
		b.Next()
		b.Next()
		got := b.Next() // nominal 4 s
		if got < tc.want-time.Microsecond || got > tc.want+time.Microsecond {
			t.Errorf("r=%v: %v, want ≈%v", tc.r, got, tc.want)
		}
	}
}

func TestBackoffDefaultsSpread(t *testing.T) {
	var b Backoff
	seen := map[time.Duration]bool{}
	for range 20 {
		b.Reset()
		d := b.Next()
		if d <= 250*time.Millisecond || d > 500*time.Millisecond {
			t.Fatalf("first default delay %v outside (250ms, 500ms]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Error("default jitter gave identical delays")
	}
}
