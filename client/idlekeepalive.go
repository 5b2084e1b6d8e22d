package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// IdleKeepaliveConfig tunes an [IdleKeepalive]. The zero value is usable.
type IdleKeepaliveConfig struct {
	// Search tunes the search for the NAT's idle timeout on the probe
	// socket. Its Resolution defaults to 2 s and its Confirmations to 1
	// here: probes cost nothing but a packet, so the search may run finer
	// than on a live path, and the probe socket's mapping answers to
	// nothing else, so one survival proves a gap.
	Search KeepaliveConfig
	// Unproven is the live interval while no gap is proven on this
	// network (default 20 s, below the 30 s the shortest common NAT
	// timeouts allow).
	Unproven time.Duration
	// Margin is subtracted from the longest proven gap to give the live
	// interval: the larger of Margin (default 2 s) and MarginFraction
	// (default 0.05) of the gap, for timer jitter and a NAT's coarse
	// clock.
	Margin         time.Duration
	MarginFraction float64
	// MaxNetworks bounds the networks remembered (default 32); the one
	// learned longest ago is forgotten first.
	MaxNetworks int
	// DisableProbe turns the probe socket off: the live interval then
	// stays at Unproven (or lower, after a lost mapping).
	DisableProbe bool
	// Revalidate is how long a remembered result is trusted before the
	// probe socket checks it again (default 24 h); the live interval stays
	// at it meanwhile.
	Revalidate time.Duration
}

func (c IdleKeepaliveConfig) withDefaults() IdleKeepaliveConfig {
	if c.Search.Resolution <= 0 {
		c.Search.Resolution = 2 * time.Second
	}
	if c.Search.Confirmations <= 0 {
		c.Search.Confirmations = 1
	}
	c.Search = c.Search.withDefaults()
	if c.Unproven <= 0 {
		c.Unproven = 20 * time.Second
	}
	c.Unproven = min(max(c.Unproven, c.Search.Min), c.Search.Max)
	if c.Margin <= 0 {
		c.Margin = 2 * time.Second
	}
	if c.MarginFraction <= 0 || c.MarginFraction >= 1 {
		c.MarginFraction = 0.05
	}
	if c.MaxNetworks <= 0 {
		c.MaxNetworks = 32
	}
	if c.Revalidate <= 0 {
		c.Revalidate = 24 * time.Hour
	}
	return c
}

// LearnedKeepalive is what was learned about one network's NAT, as
// remembered (and persisted) per network.
type LearnedKeepalive struct {
	// Safe is the longest idle gap proven to keep a mapping (0: none).
	Safe time.Duration `json:"safe"`
	// Ceiling is the shortest idle gap that lost one (0: none).
	Ceiling time.Duration `json:"ceiling,omitempty"`
	// Converged is true when the search ended.
	Converged bool `json:"converged,omitempty"`
	// At is when it was last learned or confirmed.
	At time.Time `json:"at"`
}

// IdleKeepalive decides the keepalive interval of the live path from what
// a separate probe socket proved, so that learning the NAT's idle timeout
// never costs the live mapping. The probe socket (its own NAT mapping
// towards the home agent) asks for answers after ever longer idle gaps;
// the search over those gaps is a [KeepaliveLearner]. The live path's
// interval is the longest gap proven on the probe socket, less a margin,
// or Unproven while nothing is proven: it never exceeds a proven gap.
// What was learned is remembered per network (see [NetworkKey]), so a
// restart or coming back to a known network starts from it.
//
// It is a pure state machine driven by the caller's clock. It is not safe
// for concurrent use.
type IdleKeepalive struct {
	cfg    IdleKeepaliveConfig
	search *KeepaliveLearner
	key    string
	known  map[string]LearnedKeepalive
	// verified is true once the probe socket confirmed (or learned) the
	// result on the current network since Start.
	verified bool
}

// NewIdleKeepalive returns an IdleKeepalive that knows the networks in
// known (which it copies; nil for none).
func NewIdleKeepalive(cfg IdleKeepaliveConfig, known map[string]LearnedKeepalive) *IdleKeepalive {
	cfg = cfg.withDefaults()
	k := &IdleKeepalive{cfg: cfg, search: NewKeepaliveLearner(cfg.Search), known: map[string]LearnedKeepalive{}}
	for key, l := range known {
		if l.Safe > 0 {
			k.known[key] = l
		}
	}
	k.evict()
	return k
}

// Start begins on network key (the node attached to it, moved, or
// restarted): a remembered result is restored, otherwise the search starts
// over.
func (k *IdleKeepalive) Start(key string, now time.Time) {
	k.key, k.verified = key, false
	l, ok := k.known[key]
	if !ok {
		k.search.Reset()
		return
	}
	k.search.Restore(l.Safe, l.Ceiling)
	if l.Converged && now.Sub(l.At) < k.cfg.Revalidate && now.Sub(l.At) >= 0 {
		k.verified = true
	}
}

// Network returns the current network key.
func (k *IdleKeepalive) Network() string { return k.key }

// LiveInterval is how long the live path may stay idle before a keepalive.
func (k *IdleKeepalive) LiveInterval() time.Duration {
	st := k.search.Status()
	safe := st.Safe
	if safe <= 0 {
		if st.Ceiling > 0 {
			// A gap was lost and none is proven: the shortest interval
			// until one is.
			return k.cfg.Search.Min
		}
		return k.cfg.Unproven
	}
	margin := max(k.cfg.Margin, time.Duration(float64(safe)*k.cfg.MarginFraction))
	return min(max(safe-margin, k.cfg.Search.Min), safe)
}

// ProbeGap returns the idle gap the probe socket should test next, and
// false when there is nothing to test: the search converged and the
// result is fresh.
func (k *IdleKeepalive) ProbeGap() (time.Duration, bool) {
	st := k.search.Status()
	if st.Converged {
		if k.verified {
			return 0, false
		}
		// A remembered result: test it once more before trusting it.
		return st.Safe, true
	}
	return k.search.Interval(), true
}

// ObserveProbe reports that the probe socket's mapping survived (alive) or
// lost an idle gap of gap.
func (k *IdleKeepalive) ObserveProbe(gap time.Duration, alive bool, now time.Time) {
	st := k.search.Status()
	if st.Converged && alive && gap >= st.Safe {
		k.verified = true
		k.remember(now)
		return
	}
	k.search.Observe(gap, alive)
	// A search that ends here has just proven its result.
	k.verified = k.search.Status().Converged
	k.remember(now)
}

// ObserveLive reports that the live path's mapping was lost after an idle
// gap of gap although the interval came from a proven gap: the NAT
// changed its mind. The bound falls and the probe socket searches again.
func (k *IdleKeepalive) ObserveLive(gap time.Duration, now time.Time) {
	st := k.search.Status()
	if st.Safe <= 0 {
		k.search.Observe(gap, false)
	} else {
		// The proven gap no longer holds: restart below the live gap.
		k.search.Restore(0, 0)
		k.search.Observe(max(gap, k.cfg.Search.Min), false)
	}
	k.verified = false
	k.remember(now)
}

// Status returns the search's state (the live interval aside).
func (k *IdleKeepalive) Status() KeepaliveStatus {
	st := k.search.Status()
	st.Interval = k.LiveInterval()
	return st
}

// Known returns a copy of what is remembered per network, for persisting.
func (k *IdleKeepalive) Known() map[string]LearnedKeepalive {
	out := make(map[string]LearnedKeepalive, len(k.known))
	for key, l := range k.known {
		out[key] = l
	}
	return out
}

// remember records the current network's state.
func (k *IdleKeepalive) remember(now time.Time) {
	if k.key == "" {
		return
	}
	st := k.search.Status()
	if st.Safe <= 0 {
		delete(k.known, k.key)
		return
	}
	k.known[k.key] = LearnedKeepalive{Safe: st.Safe, Ceiling: st.Ceiling, Converged: st.Converged, At: now.UTC()}
	k.evict()
}

// evict forgets the networks learned longest ago beyond MaxNetworks.
func (k *IdleKeepalive) evict() {
	for len(k.known) > k.cfg.MaxNetworks {
		keys := make([]string, 0, len(k.known))
		for key := range k.known {
			keys = append(keys, key)
		}
		oldest := slices.MinFunc(keys, func(a, b string) int {
			if c := k.known[a].At.Compare(k.known[b].At); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		delete(k.known, oldest)
	}
}

// keepaliveFile holds what was learned per network in the state
// directory.
const keepaliveFile = "keepalive.json"

// keepaliveState is the content of keepaliveFile.
type keepaliveState struct {
	Version  int                         `json:"version"`
	Networks map[string]LearnedKeepalive `json:"networks"`
}

// LoadKeepalive reads what was learned per network; none when the file
// does not exist (a node enrolled before it, or never idle).
func (d *StateDir) LoadKeepalive() (map[string]LearnedKeepalive, error) {
	p := filepath.Join(d.path, keepaliveFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: reading %s: %w", p, err)
	}
	var st keepaliveState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("client: parsing %s: %w (%w)", p, err, ErrInvalid)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("client: %s has version %d, this mnode reads 1: %w", p, st.Version, ErrInvalid)
	}
	return st.Networks, nil
}

// SaveKeepalive replaces what was learned per network atomically.
func (d *StateDir) SaveKeepalive(known map[string]LearnedKeepalive) error {
	b, err := json.MarshalIndent(keepaliveState{Version: 1, Networks: known}, "", "  ")
	if err != nil {
		return fmt.Errorf("client: encoding keepalive state: %w", err)
	}
	return writeFileAtomic(filepath.Join(d.path, keepaliveFile), append(b, '\n'))
}
