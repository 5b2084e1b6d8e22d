package client

import (
	"time"
)

// KeepaliveConfig tunes a [KeepaliveLearner]. The zero value is usable;
// zero fields take the defaults documented on each.
type KeepaliveConfig struct {
	// Min is the shortest interval ever used (default 10 s): below it a
	// keepalive costs more radio time than a lost mapping.
	Min time.Duration
	// Max is the longest interval ever probed (default 5 min); the node
	// also keeps it below the control connection's idle timeout.
	Max time.Duration
	// Initial is the first interval probed (default 25 s, which nearly
	// every NAT keeps; the home agent may suggest another).
	Initial time.Duration
	// Growth multiplies the interval after it proved safe while no upper
	// bound is known (default 1.5).
	Growth float64
	// Confirmations is how many consecutive idle gaps of one interval must
	// keep the mapping before the interval counts as safe (default 2).
	Confirmations int
	// Resolution stops the search when the safe interval and the smallest
	// interval that lost a mapping are this close (default 5 s).
	Resolution time.Duration
}

func (c KeepaliveConfig) withDefaults() KeepaliveConfig {
	if c.Min <= 0 {
		c.Min = 10 * time.Second
	}
	if c.Max <= 0 {
		c.Max = 5 * time.Minute
	}
	if c.Max < c.Min {
		c.Max = c.Min
	}
	if c.Initial <= 0 {
		c.Initial = 25 * time.Second
	}
	c.Initial = min(max(c.Initial, c.Min), c.Max)
	if c.Growth <= 1 {
		c.Growth = 1.5
	}
	if c.Confirmations <= 0 {
		c.Confirmations = 2
	}
	if c.Resolution <= 0 {
		c.Resolution = 5 * time.Second
	}
	return c
}

// KeepaliveStatus is what a learner knows, for status output.
type KeepaliveStatus struct {
	// Interval is the interval in use now.
	Interval time.Duration
	// Safe is the longest idle gap confirmed to keep the NAT mapping (0
	// when none is confirmed yet).
	Safe time.Duration
	// Ceiling is the shortest idle gap after which a mapping was lost (0
	// when none was).
	Ceiling time.Duration
	// Converged is true when the search ended and Interval is final for
	// this network.
	Converged bool
	// Losses counts mappings lost on this network.
	Losses int
}

// KeepaliveLearner learns how long the current network's NAT keeps an idle
// UDP mapping, so that the node sends keepalives as rarely as it safely
// can. It is a pure state machine: the caller waits Interval() without
// sending, sends a keepalive, and reports with Observe whether the mapping
// survived the gap (the home agent saw the same source address and
// answered) or was lost (it saw a new address, or did not answer).
//
// The search grows the interval geometrically from Initial while gaps
// survive, and once a gap lost the mapping it bisects between the longest
// safe gap and the shortest losing one until they are Resolution apart;
// then it settles on the safe one. A loss at or below an interval already
// deemed safe (the NAT changed its mind) falls back to half that gap and
// searches again.
//
// A KeepaliveLearner is not safe for concurrent use.
type KeepaliveLearner struct {
	cfg       KeepaliveConfig
	probe     time.Duration // interval being tried
	safe      time.Duration // longest confirmed safe gap, 0 = none
	ceiling   time.Duration // shortest losing gap, 0 = none
	successes int           // consecutive survivals at probe
	converged bool
	losses    int
}

// NewKeepaliveLearner returns a learner starting at cfg.Initial.
func NewKeepaliveLearner(cfg KeepaliveConfig) *KeepaliveLearner {
	l := &KeepaliveLearner{cfg: cfg.withDefaults()}
	l.Reset()
	return l
}

// Reset forgets what was learned: the node moved to another network.
func (l *KeepaliveLearner) Reset() {
	l.probe = l.cfg.Initial
	l.safe, l.ceiling, l.successes, l.losses = 0, 0, 0, 0
	l.converged = false
}

// SetInitial changes the starting interval (the home agent's suggestion)
// and restarts the search if nothing was learned yet.
func (l *KeepaliveLearner) SetInitial(d time.Duration) {
	if d <= 0 {
		return
	}
	l.cfg.Initial = min(max(d, l.cfg.Min), l.cfg.Max)
	if l.safe == 0 && l.ceiling == 0 && l.successes == 0 {
		l.probe = l.cfg.Initial
	}
}

// SetMax lowers (or raises) the longest interval, e.g. to stay below the
// control connection's idle timeout.
func (l *KeepaliveLearner) SetMax(d time.Duration) {
	if d <= 0 {
		return
	}
	l.cfg.Max = max(d, l.cfg.Min)
	l.cfg.Initial = min(l.cfg.Initial, l.cfg.Max)
	if l.probe > l.cfg.Max {
		l.probe = l.cfg.Max
		l.successes = 0
	}
	if l.safe > l.cfg.Max {
		l.safe = l.cfg.Max
	}
}

// Interval returns how long to stay idle before the next keepalive.
func (l *KeepaliveLearner) Interval() time.Duration {
	if l.converged {
		return max(l.safe, l.cfg.Min)
	}
	return l.probe
}

// Observe reports the outcome of an idle gap that ended with a keepalive:
// alive is true when the mapping survived. Gaps shorter than the interval
// being probed (traffic or a timer cut them short) teach nothing when the
// mapping survived; a loss is always informative.
func (l *KeepaliveLearner) Observe(gap time.Duration, alive bool) {
	if alive {
		l.observeAlive(gap)
	} else {
		l.observeLost(gap)
	}
}

func (l *KeepaliveLearner) observeAlive(gap time.Duration) {
	if l.converged || gap < l.probe {
		return
	}
	l.successes++
	if l.successes < l.cfg.Confirmations {
		return
	}
	l.successes = 0
	l.safe = max(l.safe, l.probe)
	l.next()
}

func (l *KeepaliveLearner) observeLost(gap time.Duration) {
	inUse := l.Interval()
	l.losses++
	l.successes = 0
	l.converged = false
	if gap <= 0 {
		gap = inUse
	}
	if l.ceiling == 0 || gap < l.ceiling {
		l.ceiling = gap
	}
	if inUse <= l.safe || l.safe >= l.ceiling {
		// The interval deemed safe failed (gaps run a little longer than
		// the interval, so compare the interval in use, not the gap): the
		// NAT is not what we learned.
		l.safe = 0
		l.ceiling = min(l.ceiling, inUse)
	}
	if l.safe > 0 {
		l.next()
		return
	}
	// Fall back hard: half the losing gap, then search up again.
	l.probe = max(l.cfg.Min, l.ceiling/2)
	if l.probe >= l.ceiling || l.probe == l.cfg.Min {
		// Nothing shorter is allowed: settle on the minimum.
		l.probe, l.safe, l.converged = l.cfg.Min, l.cfg.Min, true
	}
}

// next picks the interval to probe after the safe bound rose or the
// ceiling fell, or ends the search.
func (l *KeepaliveLearner) next() {
	switch {
	case l.ceiling != 0:
		if l.ceiling-l.safe <= l.cfg.Resolution {
			l.probe, l.converged = l.safe, true
			return
		}
		l.probe = l.safe + (l.ceiling-l.safe)/2
	case l.safe >= l.cfg.Max:
		l.probe, l.converged = l.cfg.Max, true
	default:
		l.probe = min(time.Duration(float64(l.safe)*l.cfg.Growth), l.cfg.Max)
	}
}

// Status returns what the learner knows.
func (l *KeepaliveLearner) Status() KeepaliveStatus {
	return KeepaliveStatus{
		Interval:  l.Interval(),
		Safe:      l.safe,
		Ceiling:   l.ceiling,
		Converged: l.converged,
		Losses:    l.losses,
	}
}

// Restore resumes the search from a safe gap and a losing one learned
// before (0: unknown), e.g. remembered for this network: with both known
// and within Resolution it is converged on safe; otherwise it probes on
// from there.
func (l *KeepaliveLearner) Restore(safe, ceiling time.Duration) {
	l.Reset()
	if safe <= 0 {
		return
	}
	l.safe = min(max(safe, l.cfg.Min), l.cfg.Max)
	if ceiling > l.safe {
		l.ceiling = ceiling
	}
	l.next()
}
