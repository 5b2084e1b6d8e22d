package client

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// fakeClock is a clock the tests advance by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) advance(d time.Duration) time.Time {
	c.now = c.now.Add(d)
	return c.now
}

// probeNAT drives k's probe socket against a NAT that forgets a mapping
// idle for timeout or longer, for at most rounds probes (fewer once the
// search ends), checking after every step that the live interval never
// exceeds a gap proven so far. It returns the gaps probed.
func probeNAT(t *testing.T, k *IdleKeepalive, clk *fakeClock, timeout time.Duration, rounds int) []time.Duration {
	t.Helper()
	var probed []time.Duration
	proven := time.Duration(0)
	for range rounds {
		gap, ok := k.ProbeGap()
		if !ok {
			break
		}
		if st := k.Status(); st.Converged && proven > 0 {
			t.Fatalf("probing %v after the search converged on %v it proved itself (probed %v)", gap, st.Safe, probed)
		}
		// The wire carries whole seconds; the node reports what it asked.
		gap = (gap + time.Second - 1).Truncate(time.Second)
		probed = append(probed, gap)
		alive := gap < timeout
		k.ObserveProbe(gap, alive, clk.advance(gap))
		if alive {
			proven = max(proven, gap)
		}
		if live := k.LiveInterval(); proven > 0 && live > proven {
			t.Fatalf("live interval %v exceeds the longest proven gap %v (probed %v)", live, proven, probed)
		}
		if live := k.LiveInterval(); live >= timeout {
			t.Fatalf("live interval %v reaches the NAT timeout %v (probed %v)", live, timeout, probed)
		}
	}
	return probed
}

func TestIdleKeepaliveLiveNeverExceedsProven(t *testing.T) {
	tests := []struct {
		timeout  time.Duration
		min, max time.Duration // expected live interval once converged
	}{
		{30 * time.Second, 24 * time.Second, 29 * time.Second},
		{45 * time.Second, 38 * time.Second, 44 * time.Second},
		{65 * time.Second, 55 * time.Second, 64 * time.Second},
		{120 * time.Second, 105 * time.Second, 119 * time.Second},
		{12 * time.Second, 10 * time.Second, 11 * time.Second},
		{time.Hour, 4 * time.Minute, 5 * time.Minute}, // capped at Search.Max
	}
	for _, tt := range tests {
		t.Run(tt.timeout.String(), func(t *testing.T) {
			clk := &fakeClock{now: time.Unix(1_800_000_000, 0)}
			k := NewIdleKeepalive(IdleKeepaliveConfig{}, nil)
			k.Start("wlan0|192.0.2.1|invalid IP", clk.now)
			if got := k.LiveInterval(); got != 20*time.Second {
				t.Fatalf("unproven live interval %v, want 20s", got)
			}
			probed := probeNAT(t, k, clk, tt.timeout, 60)
			st := k.Status()
			if !st.Converged {
				t.Fatalf("not converged after %d probes: %+v (probed %v)", len(probed), st, probed)
			}
			if st.Interval < tt.min || st.Interval > tt.max {
				t.Errorf("live interval %v, want within [%v, %v] (probed %v)", st.Interval, tt.min, tt.max, probed)
			}
			if _, ok := k.ProbeGap(); ok {
				t.Error("still probing after convergence")
			}
		})
	}
}

func TestIdleKeepaliveLostProbeLowersBound(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	k := NewIdleKeepalive(IdleKeepaliveConfig{}, nil)
	k.Start("net", clk.now)
	probeNAT(t, k, clk, 120*time.Second, 60)
	before := k.Status()
	if !before.Converged || before.Safe < 110*time.Second {
		t.Fatalf("did not learn the 120 s NAT: %+v", before)
	}
	// The NAT now forgets after 30 s. The remembered result is checked
	// on the probe socket after a restart on the same network and fails.
	known := k.Known()
	k = NewIdleKeepalive(IdleKeepaliveConfig{}, known)
	k.Start("net", clk.advance(25*time.Hour)) // stale: checked again
	gap, ok := k.ProbeGap()
	if !ok || gap != before.Safe {
		t.Fatalf("ProbeGap() = %v, %v; want the remembered %v to be checked", gap, ok, before.Safe)
	}
	k.ObserveProbe(gap, false, clk.advance(gap))
	st := k.Status()
	if st.Safe >= before.Safe || st.Ceiling > gap || st.Interval >= before.Interval {
		t.Fatalf("after losing the proven gap: %+v (was %+v)", st, before)
	}
	probeNAT(t, k, clk, 30*time.Second, 60)
	if st := k.Status(); !st.Converged || st.Interval >= 30*time.Second {
		t.Fatalf("did not relearn the 30 s NAT: %+v", st)
	}
}

func TestIdleKeepaliveLiveLossLowersBound(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	k := NewIdleKeepalive(IdleKeepaliveConfig{}, nil)
	k.Start("net", clk.now)
	probeNAT(t, k, clk, 65*time.Second, 60)
	live := k.LiveInterval()
	// The live path lost its mapping at its (proven) interval: the NAT
	// changed. The bound falls below that gap at once.
	k.ObserveLive(live, clk.advance(live))
	if got := k.LiveInterval(); got >= live {
		t.Fatalf("after a live loss at %v the live interval is %v", live, got)
	}
	if _, ok := k.ProbeGap(); !ok {
		t.Fatal("no probing after a live loss")
	}
	probeNAT(t, k, clk, 40*time.Second, 60)
	if st := k.Status(); !st.Converged || st.Interval >= 40*time.Second || st.Interval < 30*time.Second {
		t.Fatalf("after relearning: %+v", st)
	}
}

func TestIdleKeepaliveMemoryPerNetwork(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	dir, err := OpenStateDir(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	k := NewIdleKeepalive(IdleKeepaliveConfig{}, nil)
	k.Start("home", clk.now)
	probeNAT(t, k, clk, 120*time.Second, 60)
	home := k.LiveInterval()
	k.Start("cafe", clk.now)
	if got := k.LiveInterval(); got != 20*time.Second {
		t.Fatalf("a new network starts at %v, want the unproven 20s", got)
	}
	probeNAT(t, k, clk, 30*time.Second, 60)
	cafe := k.LiveInterval()
	if err := dir.SaveKeepalive(k.Known()); err != nil {
		t.Fatal(err)
	}

	// A restart: the state directory brings both networks back, and a
	// fresh result needs no probing.
	known, err := dir.LoadKeepalive()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(known, k.Known()) {
		t.Fatalf("loaded %+v, saved %+v", known, k.Known())
	}
	tests := []struct {
		key  string
		want time.Duration
	}{
		{"home", home},
		{"cafe", cafe},
		{"elsewhere", 20 * time.Second},
	}
	for _, tt := range tests {
		r := NewIdleKeepalive(IdleKeepaliveConfig{}, known)
		r.Start(tt.key, clk.advance(time.Minute))
		if got := r.LiveInterval(); got != tt.want {
			t.Errorf("%s: live interval %v after restart, want %v", tt.key, got, tt.want)
		}
		_, probing := r.ProbeGap()
		if probing != (tt.key == "elsewhere") {
			t.Errorf("%s: probing %v after restart", tt.key, probing)
		}
	}
}

func TestIdleKeepaliveForgetsOldestNetwork(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	k := NewIdleKeepalive(IdleKeepaliveConfig{MaxNetworks: 3}, nil)
	for i := range 5 {
		k.Start(fmt.Sprintf("net%d", i), clk.advance(time.Hour))
		probeNAT(t, k, clk, 30*time.Second, 60)
	}
	known := k.Known()
	if len(known) != 3 {
		t.Fatalf("%d networks remembered, want 3", len(known))
	}
	for _, key := range []string{"net2", "net3", "net4"} {
		if _, ok := known[key]; !ok {
			t.Errorf("%s forgotten, want the oldest forgotten first (have %v)", key, known)
		}
	}
}

func TestLoadKeepaliveMissingAndInvalid(t *testing.T) {
	dir, err := OpenStateDir(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	if known, err := dir.LoadKeepalive(); err != nil || known != nil {
		t.Fatalf("no file: %v, %v", known, err)
	}
	if err := writeFileAtomic(dir.Path()+"/"+keepaliveFile, []byte(`{"version":7}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.LoadKeepalive(); err == nil {
		t.Fatal("version 7 accepted")
	}
}
