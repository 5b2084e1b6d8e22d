package homeagent

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

func TestSourceLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newSourceLimiter()
	a := netip.MustParseAddr("198.51.100.7")
	for i := range sourceFailBurst {
		if l.blocked(a, now) {
			t.Fatalf("blocked after %d failures", i)
		}
		l.fail(a, now)
	}
	if !l.blocked(a, now) {
		t.Fatal("not blocked after the burst")
	}
	if l.blocked(netip.MustParseAddr("198.51.100.8"), now) {
		t.Fatal("another source blocked")
	}
	// One IPv6 /64 is one source.
	for range sourceFailBurst {
		l.fail(netip.MustParseAddr("2001:db8:1:2::1"), now)
	}
	if !l.blocked(netip.MustParseAddr("2001:db8:1:2:ffff::9"), now) || l.blocked(netip.MustParseAddr("2001:db8:1:3::1"), now) {
		t.Fatal("IPv6 sources not grouped by /64")
	}
	if l.blocked(a, now.Add(time.Duration(float64(time.Second)/sourceFailRate))) {
		t.Fatal("still blocked after a refill")
	}

	// A full table: unknown sources are refused until entries refill, and
	// then forgotten.
	small := newSourceLimiter()
	small.max = 2
	for _, s := range []string{"192.0.2.1", "192.0.2.2"} {
		for range sourceFailBurst {
			small.fail(netip.MustParseAddr(s), now)
		}
	}
	third := netip.MustParseAddr("192.0.2.3")
	if !small.blocked(third, now) {
		t.Fatal("unknown source allowed with the table full of blocked sources")
	}
	small.fail(third, now)
	if len(small.tats) != 2 {
		t.Fatalf("table grew to %d", len(small.tats))
	}
	// Within a second of a sweep the table is not swept again, even when
	// it could be.
	tiny := newSourceLimiter()
	tiny.max = 1
	tiny.fail(netip.MustParseAddr("192.0.2.9"), now) // refilled 2 s later
	if !tiny.blocked(third, now.Add(1900*time.Millisecond)) {
		t.Fatal("unknown source allowed with the table full")
	}
	if !tiny.blocked(third, now.Add(2500*time.Millisecond)) {
		t.Fatal("swept again within a second of the last sweep")
	}
	if tiny.blocked(third, now.Add(3*time.Second)) {
		t.Fatal("not swept a second after the last sweep")
	}
	later := now.Add(time.Hour)
	if small.blocked(third, later) {
		t.Fatal("unknown source refused after the table refilled")
	}
	small.fail(third, later)
	if len(small.tats) != 1 {
		t.Fatalf("refilled sources not forgotten: %d entries", len(small.tats))
	}
}

func TestLogLimiter(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	lc := &lineCounter{}
	ll := newLogLimiter(slog.New(lc), clock.Now)
	for range 100 {
		ll.Log(slog.LevelInfo, "refused")
	}
	if n := lc.count("refused"); n != refusedLogBurst {
		t.Fatalf("%d lines of 100, want %d", n, refusedLogBurst)
	}
	clock.Advance(time.Second)
	ll.Log(slog.LevelInfo, "refused again")
	if n := lc.count("refused again"); n != 1 {
		t.Fatalf("%d lines after the refill", n)
	}
	if got := lc.suppressedAttr(); got != 100-refusedLogBurst {
		t.Fatalf("suppressed_before = %d, want %d", got, 100-refusedLogBurst)
	}
}
