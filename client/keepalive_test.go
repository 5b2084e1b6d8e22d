package client

import (
	"testing"
	"time"
)

// nat simulates a NAT that drops a mapping idle for timeout or longer.
// run drives the learner against it for n keepalives and returns the
// intervals used.
func runNAT(l *KeepaliveLearner, timeout time.Duration, n int) []time.Duration {
	var used []time.Duration
	for range n {
		gap := l.Interval()
		used = append(used, gap)
		l.Observe(gap, gap < timeout)
	}
	return used
}

func TestKeepaliveLearnsTimeout(t *testing.T) {
	for _, timeout := range []time.Duration{30 * time.Second, 65 * time.Second, 120 * time.Second, 179 * time.Second} {
		l := NewKeepaliveLearner(KeepaliveConfig{})
		used := runNAT(l, timeout, 60)
		st := l.Status()
		if !st.Converged {
			t.Errorf("timeout %v: not converged after 60 keepalives: %+v (intervals %v)", timeout, st, used)
			continue
		}
		if st.Interval >= timeout {
			t.Errorf("timeout %v: settled on unsafe interval %v", timeout, st.Interval)
		}
		if timeout-st.Interval > 2*5*time.Second {
			t.Errorf("timeout %v: settled on %v, more than two resolutions short", timeout, st.Interval)
		}
		losses := 0
		for _, g := range used {
			if g >= timeout {
				losses++
			}
		}
		if losses != st.Losses {
			t.Errorf("timeout %v: learner counted %d losses, simulation %d", timeout, st.Losses, losses)
		}
		if losses > 6 {
			t.Errorf("timeout %v: %d mappings lost while learning", timeout, losses)
		}
		// Converged: it stays there.
		for range 10 {
			if got := l.Interval(); got != st.Interval {
				t.Fatalf("interval moved after convergence: %v -> %v", st.Interval, got)
			}
			l.Observe(l.Interval(), true)
		}
	}
}

func TestKeepaliveCapsAtMax(t *testing.T) {
	l := NewKeepaliveLearner(KeepaliveConfig{Max: 2 * time.Minute})
	runNAT(l, time.Hour, 40)
	st := l.Status()
	if !st.Converged || st.Interval != 2*time.Minute || st.Losses != 0 {
		t.Errorf("status %+v, want converged at 2m without losses", st)
	}
}

func TestKeepaliveFallsBackWhenNATChanges(t *testing.T) {
	l := NewKeepaliveLearner(KeepaliveConfig{})
	runNAT(l, 120*time.Second, 60)
	if st := l.Status(); !st.Converged || st.Interval < 100*time.Second {
		t.Fatalf("did not learn the first NAT: %+v", st)
	}
	// The NAT now drops mappings after 20 s: the learned interval loses.
	l.Observe(l.Interval(), false)
	if got := l.Interval(); got >= 100*time.Second {
		t.Fatalf("after a loss at the safe interval the learner still uses %v", got)
	}
	runNAT(l, 20*time.Second, 60)
	st := l.Status()
	if !st.Converged || st.Interval >= 20*time.Second || st.Interval < l.cfg.Min {
		t.Errorf("after the NAT changed: %+v", st)
	}
}

func TestKeepaliveFloor(t *testing.T) {
	l := NewKeepaliveLearner(KeepaliveConfig{Min: 10 * time.Second})
	runNAT(l, 5*time.Second, 20)
	if st := l.Status(); st.Interval != 10*time.Second || !st.Converged {
		t.Errorf("a NAT shorter than Min: %+v, want Min and converged", st)
	}
}

func TestKeepaliveIgnoresShortGaps(t *testing.T) {
	l := NewKeepaliveLearner(KeepaliveConfig{})
	before := l.Interval()
	for range 10 {
		l.Observe(before/2, true)
	}
	if l.Interval() != before || l.Status().Safe != 0 {
		t.Errorf("short gaps changed the learner: %+v", l.Status())
	}
}

func TestKeepaliveResetAndSetters(t *testing.T) {
	l := NewKeepaliveLearner(KeepaliveConfig{})
	l.SetInitial(40 * time.Second)
	if l.Interval() != 40*time.Second {
		t.Errorf("SetInitial: interval %v", l.Interval())
	}
	l.SetMax(30 * time.Second)
	if l.Interval() != 30*time.Second {
		t.Errorf("SetMax: interval %v", l.Interval())
	}
	runNAT(l, 25*time.Second, 10)
	l.Reset()
	if st := l.Status(); st.Safe != 0 || st.Ceiling != 0 || st.Losses != 0 || st.Converged {
		t.Errorf("Reset left %+v", st)
	}
}

// Gaps run a little longer than the interval (timers, scheduling): a loss
// at "safe + 1 ms" is still the safe interval failing.
func TestKeepaliveLossJustAboveSafeInterval(t *testing.T) {
	l := NewKeepaliveLearner(KeepaliveConfig{})
	runNAT(l, 120*time.Second, 60)
	st := l.Status()
	if !st.Converged {
		t.Fatalf("not converged: %+v", st)
	}
	l.Observe(st.Interval+time.Millisecond, false)
	if got := l.Status(); got.Converged || got.Interval >= st.Interval {
		t.Errorf("loss at the learned interval kept it: before %+v, after %+v", st, got)
	}
}
