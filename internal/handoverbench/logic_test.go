package handoverbench

import (
	"math"
	"regexp"
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
		{[]Kind{1, 2, 3}, 2, []Kind{1, 2, 1, 2, 3, 3}},
		{[]Kind{3, 1, 2}, 1, []Kind{1, 2, 3}},
		{[]Kind{2}, 3, []Kind{2, 2, 2}},
		{[]Kind{1, 3}, 2, []Kind{1, 1, 3, 3}},
		{AllKinds, 0, nil},
		{KnownKinds, 1, []Kind{1, 2, 3, 4, 5, 6, 7, 8}},
		{AllKinds, 2, []Kind{1, 2, 1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 8, 7, 8}},
		{[]Kind{8, 6}, 2, []Kind{6, 6, 8, 8}},
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
		len(c.Profiles) != 1 || c.Profiles[0].Name != "field" {
		t.Errorf("defaults = %+v", c)
	}
	field, err := netlab.Profile("field")
	if err != nil {
		t.Fatal(err)
	}
	if c.Profiles[0].Network != field {
		t.Errorf("default profile %+v, want the field profile", c.Profiles[0])
	}
	if th := c.Threshold(Profile{Name: "field", Network: field}); th != 36*time.Millisecond {
		t.Errorf("field profile (±7.5 ms jitter each way): gap threshold %v; want 36ms", th)
	}
	if th := c.Threshold(Profile{Name: "ideal"}); th != 6*time.Millisecond {
		t.Errorf("ideal profile: gap threshold %v; want 6ms", th)
	}
	for _, bad := range []Config{
		{Moves: -1},
		{Kinds: []Kind{9}},
		{Profiles: []Profile{{Name: "a"}, {Name: "a"}}},
		{Profiles: []Profile{{Name: "bad", Network: netlab.Network{Cell: netlab.LinkConfig{MTU: 100}}}}},
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
	for s, want := range map[string]Kind{"1": WifiToCell, "2": CellToWifi, "3": WifiSilent, "4": NATFlush, "5": StandbyUp, "6": BulkToCell, "7": V4ToV6, "8": V6ToV4} {
		if k, err := ParseKind(s); err != nil || k != want {
			t.Errorf("ParseKind(%q) = %v, %v", s, k, err)
		}
		if !strings.HasPrefix(want.String(), s+" ") {
			t.Errorf("%d.String() = %q", want, want.String())
		}
	}
	for _, s := range []string{"", "0", "9", "1,2", "x", "12"} {
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

func TestBulkSpecDefaults(t *testing.T) {
	s, err := StreamSpec{Network: "tcp4", Bulk: true}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if s.Interval != 100*time.Microsecond || s.RecordSize != BulkRecordSize {
		t.Errorf("bulk defaults: interval %v, record %d", s.Interval, s.RecordSize)
	}
}

func TestGoals(t *testing.T) {
	field, err := NamedProfiles("field")
	if err != nil {
		t.Fatal(err)
	}
	g := Goals(WifiToCell, field[0])
	if len(g) != 2 || g[0].Limit != 110 || g[1].Limit != 300 {
		t.Fatalf("move 1 under field: %+v, want median ≤ 60+50 ms and p99 ≤ 300 ms", g)
	}
	if !g[0].Met(Summary{Median: 110}) || g[0].Met(Summary{Median: 111}) || g[0].Met(Summary{Median: math.NaN()}) {
		t.Error("median goal misjudged")
	}
	if g := Goals(CellToWifi, Profile{Name: "ideal"}); len(g) != 2 || g[0].Limit != 50 {
		t.Errorf("move 2 on the ideal lab: %+v, want median ≤ 50 ms", g)
	}
	if g := Goals(NATFlush, field[0]); len(g) != 1 || g[0].Limit != 1000 || g[0].Met(Summary{Median: math.Inf(1)}) {
		t.Errorf("NAT flush: %+v", g)
	}
	if g := Goals(WifiSilent, field[0]); len(g) != 1 || g[0].Met(Summary{Median: 500, Max: 1200}) {
		t.Errorf("silent Wi-Fi: every move ≤ 1 s, got %+v", g)
	}
	if g := Goals(V4ToV6, field[0]); g != nil {
		t.Errorf("kind 7 has no goal, got %+v", g)
	}
}

func TestWriteTableProfiles(t *testing.T) {
	profs, err := NamedProfiles("ideal", "field")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Config{Moves: 1, Kinds: []Kind{WifiToCell}, Paths: []string{PathHomeIP}, Profiles: profs}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{Config: cfg, Paths: []PathResult{
		{Profile: "ideal", Path: PathHomeIP, Moves: []MoveResult{{Profile: "ideal", Path: PathHomeIP, Kind: WifiToCell, N: 1, GapMS: 20}}},
		{Profile: "field", Path: PathHomeIP, Moves: []MoveResult{{Profile: "field", Path: PathHomeIP, Kind: WifiToCell, N: 1, GapMS: 400}}},
	}}
	var b strings.Builder
	res.WriteTable(&b)
	out := b.String()
	for _, want := range []string{"| ideal", "| field", "20.0", "400", "median ≤ 50 ms", "median ≤ 110 ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`field +p99 ≤ 300 ms +400 +missed`).MatchString(out) {
		t.Errorf("field p99 of 400 ms not shown as missed:\n%s", out)
	}
}
