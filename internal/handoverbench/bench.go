package handoverbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/homeip/homeip/internal/netlab"
)

// Config configures a benchmark run. The zero value (plus Bin) runs the
// full benchmark.
type Config struct {
	// Moves is the number of moves per kind and path; default 50.
	Moves int
	// Kinds to measure; default AllKinds.
	Kinds []Kind
	// Paths to compare; default AllPaths.
	Paths []string
	// Window is how long after a move the stream may take to resume
	// before it counts as broken; default 3 s.
	Window time.Duration
	// Interval between the stream's records; default 2 ms, which bounds
	// the resolution of a gap.
	Interval time.Duration
	// Hold is how long records must flow without a pause before the
	// stream counts as resumed (and, before the move, as steady);
	// default 200 ms.
	Hold time.Duration
	// Settle is a pause after the lab is put in a move's start state (and
	// for homeip after the node reports that state); default 300 ms.
	Settle time.Duration
	// Sequential runs the paths one after another instead of at once.
	Sequential bool
	// Bin locates ha, mnode and wireguard-go.
	Bin Binaries
	// Dir is a scratch directory; default a new temporary one, removed
	// at the end.
	Dir string
	// GapThreshold: pauses in delivery longer than this count as a gap,
	// and a stream is steady (before a move) or resumed (after it) once
	// records flowed for Hold without one. Default, per profile
	// (Config.Threshold): the stream's own default (3 intervals, at least
	// 5 ms), widened by 4× the larger jitter of the profile's links,
	// whose jitter (±J each way) spreads arrivals over 4J without
	// anything being wrong.
	GapThreshold time.Duration
	// Profiles are the access networks to measure every kind under, one
	// after another, each path in a lab of its own per profile; the
	// table shows one column group per profile. Default: the "field"
	// profile alone (netlab.Profile).
	Profiles []Profile
	// Logger receives lab and deployment messages; nil discards them.
	Logger *slog.Logger
	// Progress receives one line per measured move; nil for none. Paths
	// running at once write to it one line at a time.
	Progress io.Writer
}

// Profile is a named set of access networks.
type Profile struct {
	Name    string
	Network netlab.Network
}

// DefaultProfile is the profile a Config without Profiles measures under:
// real access networks.
const DefaultProfile = "field"

// NamedProfiles returns the netlab profiles of the given names.
func NamedProfiles(names ...string) ([]Profile, error) {
	var out []Profile
	for _, name := range names {
		n, err := netlab.Profile(name)
		if err != nil {
			return nil, fmt.Errorf("handoverbench: %w", err)
		}
		out = append(out, Profile{Name: name, Network: n})
	}
	return out, nil
}

// Threshold returns the gap threshold of moves under p: GapThreshold if
// set, else the default described there.
func (c Config) Threshold(p Profile) time.Duration {
	if c.GapThreshold != 0 {
		return c.GapThreshold
	}
	return max(3*c.Interval, 5*time.Millisecond) + 4*max(p.Network.Wifi.Jitter, p.Network.Cell.Jitter)
}

func (c Config) withDefaults() (Config, error) {
	if c.Moves == 0 {
		c.Moves = 50
	}
	if c.Moves < 0 {
		return c, fmt.Errorf("handoverbench: negative move count %d", c.Moves)
	}
	if len(c.Kinds) == 0 {
		c.Kinds = AllKinds
	}
	for _, k := range c.Kinds {
		if !k.known() {
			return c, fmt.Errorf("handoverbench: unknown move kind %d", int(k))
		}
	}
	if len(c.Paths) == 0 {
		c.Paths = AllPaths
	}
	for _, p := range c.Paths {
		if p != PathHomeIP && p != PathWireGuard && p != PathNone {
			return c, fmt.Errorf("handoverbench: unknown path %q (want %v)", p, AllPaths)
		}
	}
	if c.Window == 0 {
		c.Window = 3 * time.Second
	}
	if c.Interval == 0 {
		c.Interval = 2 * time.Millisecond
	}
	if c.Hold == 0 {
		c.Hold = 200 * time.Millisecond
	}
	if c.Settle == 0 {
		c.Settle = 300 * time.Millisecond
	}
	if len(c.Profiles) == 0 {
		p, err := NamedProfiles(DefaultProfile)
		if err != nil {
			return c, err
		}
		c.Profiles = p
	}
	seen := map[string]bool{}
	for _, p := range c.Profiles {
		if p.Name == "" || seen[p.Name] {
			return c, fmt.Errorf("handoverbench: profile names must be unique and not empty (%q)", p.Name)
		}
		seen[p.Name] = true
		if err := p.Network.Validate(); err != nil {
			return c, fmt.Errorf("handoverbench: profile %s: %w", p.Name, err)
		}
	}
	if c.Window < 0 || c.Interval < 0 || c.Hold < 0 || c.Settle < 0 || c.GapThreshold < 0 {
		return c, errors.New("handoverbench: negative duration in config")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	c.Progress = &lockedWriter{w: c.Progress}
	return c, nil
}

// lockedWriter serialises writes of the paths that run at once.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// MoveResult is one measured move.
type MoveResult struct {
	Profile string
	Path    string
	Kind    Kind
	// N counts the moves of this kind and path, from 1.
	N int
	// GapMS is the move's delivery gap in milliseconds; +Inf if the
	// stream did not resume within the window.
	GapMS float64
	// Broken: the stream did not come through intact (see the package
	// doc). Unmeasured: it could not even be set up before the move (the
	// path was dead already); it counts as broken too.
	Broken, Unmeasured bool
	// Reason says why the stream broke.
	Reason string
	// NodeHandoverMS is the node's own account of its last handover
	// (homeip: `mnode status` last_handover_ms, from detecting the change
	// to the home agent's acknowledgement) after the move; NaN for the
	// other paths.
	NodeHandoverMS float64
}

// PathResult is every move of one path under one profile.
type PathResult struct {
	Profile string
	Path    string
	Moves   []MoveResult
	// Err is why the path stopped early (its deployment failed, or the
	// lab did), nil if it ran all its moves.
	Err  error
	Took time.Duration
}

// Result is a whole benchmark run.
type Result struct {
	Config Config
	Paths  []PathResult
	Took   time.Duration
}

// Run measures cfg.Moves moves of each kind on each path under each
// profile, each path in a lab of its own; the profiles run one after
// another, the paths of a profile at once (unless cfg.Sequential). It
// returns an error only for a bad config or when ctx ends; a path that
// fails has its error in its PathResult.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "hipbench")
		if err != nil {
			return nil, fmt.Errorf("handoverbench: %w", err)
		}
		defer os.RemoveAll(d)
		cfg.Dir = d
	}
	start := time.Now()
	res := &Result{Config: cfg}
	for _, prof := range cfg.Profiles {
		if ctx.Err() != nil {
			break
		}
		prs := make([]PathResult, len(cfg.Paths))
		var wg sync.WaitGroup
		for i, name := range cfg.Paths {
			run := func() { prs[i] = runPath(ctx, cfg, prof, name) }
			if cfg.Sequential {
				run()
			} else {
				wg.Go(run)
			}
		}
		wg.Wait()
		res.Paths = append(res.Paths, prs...)
	}
	res.Took = time.Since(start)
	return res, ctx.Err()
}

// schedule returns the moves to make, in order: kinds 1 and 2 alternate
// (each one's end state is the other's start state), then the others in
// KnownKinds order, 7 and 8 alternating like 1 and 2.
func schedule(kinds []Kind, n int) []Kind {
	has := map[Kind]bool{}
	for _, k := range kinds {
		has[k] = true
	}
	var out []Kind
	pair := func(a, b Kind) {
		if has[a] && has[b] {
			for range n {
				out = append(out, a, b)
			}
			delete(has, a)
			delete(has, b)
		}
	}
	pair(WifiToCell, CellToWifi)
	for _, k := range KnownKinds {
		if k == V4ToV6 {
			pair(V4ToV6, V6ToV4)
		}
		if has[k] {
			for range n {
				out = append(out, k)
			}
		}
	}
	return out
}

func runPath(ctx context.Context, cfg Config, prof Profile, name string) (pr PathResult) {
	pr.Profile, pr.Path = prof.Name, name
	start := time.Now()
	defer func() { pr.Took = time.Since(start) }()
	log := cfg.Logger.With("component", "handoverbench", "path", name, "profile", prof.Name)
	lab, err := netlab.New(ctx, netlab.Options{Logger: cfg.Logger, Network: prof.Network})
	if err != nil {
		pr.Err = err
		return pr
	}
	defer lab.Close()
	dir := filepath.Join(cfg.Dir, prof.Name, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		pr.Err = fmt.Errorf("handoverbench: %w", err)
		return pr
	}
	p, err := deploy(ctx, name, lab, cfg, dir)
	if err != nil {
		pr.Err = err
		return pr
	}
	defer p.Close()
	fmt.Fprintf(cfg.Progress, "%-8s %-9s up in lab %s\n", prof.Name, name, lab.Prefix)
	count := map[Kind]int{}
	for _, k := range schedule(cfg.Kinds, cfg.Moves) {
		if ctx.Err() != nil {
			pr.Err = ctx.Err()
			return pr
		}
		count[k]++
		m, err := measure(ctx, cfg, cfg.Threshold(prof), lab, p, k)
		if err != nil {
			pr.Err = err
			return pr
		}
		m.Profile, m.Path, m.N = prof.Name, name, count[k]
		pr.Moves = append(pr.Moves, m)
		line := fmt.Sprintf("%-8s %-9s kind %-20s %3d/%d  gap %8s ms", prof.Name, name, k, m.N, cfg.Moves, formatMS(m.GapMS, ms(cfg.Window)))
		if !math.IsNaN(m.NodeHandoverMS) {
			line += fmt.Sprintf("  (mnode: last handover %.0f ms)", m.NodeHandoverMS)
		}
		if m.Broken {
			line += "  BROKEN: " + m.Reason
		}
		fmt.Fprintln(cfg.Progress, line)
		log.Debug("move", "kind", int(k), "n", m.N, "gap_ms", m.GapMS, "broken", m.Broken, "reason", m.Reason)
	}
	return pr
}

// bulkGrace is how long a bulk transfer's receiver may take to drain what
// is in flight once the sender stops.
const bulkGrace = 30 * time.Second

// measure runs one move of kind k on a stream of its own, with gap
// threshold threshold. Its error is for a failure of the lab itself,
// which ends the path's run.
func measure(ctx context.Context, cfg Config, threshold time.Duration, lab *netlab.Lab, p path, k Kind) (MoveResult, error) {
	m := MoveResult{Kind: k, GapMS: math.Inf(1), NodeHandoverMS: math.NaN()}
	broken := func(unmeasured bool, why string) (MoveResult, error) {
		m.Broken, m.Unmeasured, m.Reason = true, unmeasured, why
		return m, k.Restore(ctx, lab)
	}
	if err := k.Prepare(ctx, lab); err != nil {
		return m, err
	}
	if err := p.settle(ctx, k); err != nil {
		if ctx.Err() != nil {
			return m, ctx.Err()
		}
		return broken(true, "not settled before the move: "+err.Error())
	}
	spec := StreamSpec{
		Network: "tcp4", Source: p.source(), Interval: cfg.Interval, GapThreshold: threshold,
		IdleTimeout: cfg.Window + 10*time.Second, DialTimeout: cfg.Window,
	}
	grace := cfg.Window
	if k.Bulk() {
		spec.Bulk, spec.Interval = true, 0
		grace = max(grace, bulkGrace)
	}
	s, err := StartStream(ctx, lab, spec)
	if err != nil {
		if ctx.Err() != nil {
			return m, ctx.Err()
		}
		return broken(true, "no connection before the move: "+err.Error())
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.Window)
	err = s.WaitFlowing(wctx, time.Now(), cfg.Hold)
	cancel()
	if err != nil {
		s.Abort()
		if ctx.Err() != nil {
			return m, ctx.Err()
		}
		return broken(true, "stream not steady before the move: "+err.Error())
	}
	moved := time.Now()
	if err := k.Move(ctx, lab); err != nil {
		s.Abort()
		return m, err
	}
	wctx, cancel = context.WithDeadline(ctx, moved.Add(cfg.Window))
	resumeErr := s.WaitFlowing(wctx, moved, cfg.Hold)
	cancel()
	var r StreamResult
	if resumeErr != nil {
		r = s.Abort()
	} else {
		r = s.Stop(grace)
	}
	if ctx.Err() != nil {
		return m, ctx.Err()
	}
	m.NodeHandoverMS = p.handoverMS(ctx)
	if resumeErr != nil {
		return broken(false, fmt.Sprintf("no data for %v after the move", cfg.Window))
	}
	// The last record before the move may have arrived up to an interval
	// (plus scheduling noise) before it began.
	from := moved.Add(-2*s.spec.Interval - 20*time.Millisecond)
	gap, _, ok := r.GapAfter(from, moved.Add(cfg.Window))
	if !ok {
		gap = ms(s.spec.GapThreshold) // no pause above the threshold: an upper bound
	}
	m.GapMS = gap
	if err := r.Err(); err != nil {
		m.Broken, m.Reason = true, err.Error()
	}
	return m, k.Restore(ctx, lab)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
