package handoverbench

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/streamprobe"
)

func TestSchedule(t *testing.T) {
	tests := []struct {
		kinds []Kind
		n     int
		want  []Kind
	}{
		{AllKinds, 2, []Kind{1, 2, 1, 2, 3, 3}},
		{[]Kind{3, 1, 2}, 1, []Kind{1, 2, 3}},
		{[]Kind{2}, 3, []Kind{2, 2, 2}},
		{[]Kind{1, 3}, 2, []Kind{1, 1, 3, 3}},
		{AllKinds, 0, nil},
		{KnownKinds, 1, []Kind{1, 2, 3, 4, 5}},
		{[]Kind{5, 4}, 2, []Kind{4, 4, 5, 5}},
	}
	for _, tt := range tests {
		if got := schedule(tt.kinds, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("schedule(%v, %d) = %v, want %v", tt.kinds, tt.n, got, tt.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Moves != 50 || !slices.Equal(c.Kinds, AllKinds) || !slices.Equal(c.Paths, AllPaths) ||
		c.Window != 3*time.Second || c.Interval != 2*time.Millisecond || c.Progress == nil || c.Logger == nil ||
		c.GapThreshold != 6*time.Millisecond {
		t.Errorf("defaults = %+v", c)
	}
	field, err := netlab.Profile("field")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := (Config{Network: field}).withDefaults(); err != nil || c.GapThreshold != 36*time.Millisecond {
		t.Errorf("field profile (±7.5 ms jitter each way): gap threshold %v, %v; want 36ms", c.GapThreshold, err)
	}
	for _, bad := range []Config{
		{Moves: -1},
		{Kinds: []Kind{6}},
		{Kinds: []Kind{0}},
		{Paths: []string{"openvpn"}},
		{Window: -time.Second},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestParseKind(t *testing.T) {
	for s, want := range map[string]Kind{"1": WifiToCell, "2": CellToWifi, "3": WifiSilent, "4": NATFlush, "5": StandbyUp} {
		if k, err := ParseKind(s); err != nil || k != want {
			t.Errorf("ParseKind(%q) = %v, %v", s, k, err)
		}
		if !strings.HasPrefix(want.String(), s+" ") {
			t.Errorf("%d.String() = %q", want, want.String())
		}
	}
	for _, s := range []string{"", "0", "6", "1,2", "x"} {
		if _, err := ParseKind(s); err == nil {
			t.Errorf("ParseKind(%q) accepted", s)
		}
	}
}

func TestStreamSpecDefaults(t *testing.T) {
	s, err := StreamSpec{Network: "tcp4"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if s.Interval != 5*time.Millisecond || s.GapThreshold != 15*time.Millisecond || s.IdleTimeout != 20*time.Second {
		t.Errorf("defaults = %+v", s)
	}
	if s, _ := (StreamSpec{Network: "tcp6", Interval: time.Millisecond}).withDefaults(); s.GapThreshold != 5*time.Millisecond {
		t.Errorf("gap threshold floor: %v", s.GapThreshold)
	}
	for _, bad := range []StreamSpec{
		{Network: "udp4"},
		{Network: "tcp4", Source: WGNode6},
		{Network: "tcp6", Source: WGNode4},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestStreamResult(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good := func() StreamResult {
		return StreamResult{
			Send: &streamprobe.Report{Role: streamprobe.RoleSend, Bytes: 100, SHA256: "aa", Complete: true},
			Recv: &streamprobe.Report{Role: streamprobe.RoleRecv, Bytes: 100, SHA256: "aa", Complete: true, Verified: true,
				Gaps: []streamprobe.Gap{
					{Start: t0.Add(time.Second), DurationMS: 40},
					{Start: t0.Add(3 * time.Second), DurationMS: 25},
					{Start: t0.Add(3500 * time.Millisecond), DurationMS: 70},
				}},
		}
	}
	if err := good().Err(); err != nil {
		t.Errorf("intact stream: %v", err)
	}
	for name, spoil := range map[string]func(*StreamResult){
		"reset":        func(r *StreamResult) { r.Recv.Resets = 1 },
		"not verified": func(r *StreamResult) { r.Recv.Verified = false },
		"sha differs":  func(r *StreamResult) { r.Recv.SHA256 = "bb" },
		"bytes differ": func(r *StreamResult) { r.Recv.Bytes = 99 },
		"missing":      func(r *StreamResult) { r.Recv.Missing = 1 },
		"recv error":   func(r *StreamResult) { r.RecvErr = streamprobe.ErrStalled },
		"no report":    func(r *StreamResult) { r.Recv = nil },
	} {
		r := good()
		spoil(&r)
		if r.Err() == nil {
			t.Errorf("%s: Err() = nil", name)
		}
	}
	r := good()
	if g, open, ok := r.GapAfter(t0.Add(2*time.Second), t0.Add(4*time.Second)); !ok || open || g != 70 {
		t.Errorf("GapAfter = %v %v %v, want 70 false true", g, open, ok)
	}
	if _, _, ok := r.GapAfter(t0.Add(5*time.Second), t0.Add(6*time.Second)); ok {
		t.Error("GapAfter found a gap in an empty interval")
	}
	r.Recv.Gaps = append(r.Recv.Gaps, streamprobe.Gap{Start: t0.Add(5 * time.Second), DurationMS: 3000, Open: true})
	if g, open, ok := r.GapAfter(t0.Add(5*time.Second), t0.Add(9*time.Second)); !ok || !open || g != 3000 {
		t.Errorf("open gap: GapAfter = %v %v %v", g, open, ok)
	}
	if math.IsNaN(Summarize([]float64{1}, 0).Median) {
		t.Error("Summarize of one value is NaN")
	}
}
