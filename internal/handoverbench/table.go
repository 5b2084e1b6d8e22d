package handoverbench

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"
)

// Summary returns the distribution of the gaps of path under profile for
// kind k.
func (r *Result) Summary(profile, path string, k Kind) Summary {
	var gaps []float64
	broken := 0
	for _, m := range r.moves(profile, path, k) {
		gaps = append(gaps, m.GapMS)
		if m.Broken {
			broken++
		}
	}
	return Summarize(gaps, broken)
}

// moves returns the moves of kind k that path made under profile.
func (r *Result) moves(profile, path string, k Kind) []MoveResult {
	var out []MoveResult
	for _, pr := range r.Paths {
		if pr.Path != path || pr.Profile != profile {
			continue
		}
		for _, m := range pr.Moves {
			if m.Kind == k {
				out = append(out, m)
			}
		}
	}
	return out
}

// unmeasured counts the moves of path and kind under profile whose
// stream could not be set up before the move.
func (r *Result) unmeasured(profile, path string, k Kind) int {
	n := 0
	for _, m := range r.moves(profile, path, k) {
		if m.Unmeasured {
			n++
		}
	}
	return n
}

// Goal is a target for homeip's gaps of one kind under one profile:
// Value of the summary at most Limit milliseconds.
type Goal struct {
	// What the goal says, e.g. "median ≤ 110 ms".
	What  string
	Limit float64
	Value func(s Summary) float64
}

// Met reports whether s meets the goal.
func (g Goal) Met(s Summary) bool {
	v := g.Value(s)
	return !math.IsNaN(v) && v <= g.Limit
}

// Goals returns the goals for kind k under the access networks of p:
// moves 1 and 2 a median of at most the cellular round trip plus 50 ms
// and a p99 of at most 300 ms; the NAT flush (4) a median of at most 1 s;
// the silent Wi-Fi (3) at most 1 s every time. Other kinds have none.
func Goals(k Kind, p Profile) []Goal {
	le := func(what string, limit float64, f func(Summary) float64) Goal {
		return Goal{What: fmt.Sprintf("%s ≤ %.0f ms", what, limit), Limit: limit, Value: f}
	}
	median := func(s Summary) float64 { return s.Median }
	switch k {
	case WifiToCell, CellToWifi:
		rtt := 2 * p.Network.Cell.Delay
		return []Goal{
			le("median", ms(rtt+50*time.Millisecond), median),
			le("p99", 300, func(s Summary) float64 { return s.P99 }),
		}
	case NATFlush:
		return []Goal{le("median", 1000, median)}
	case WifiSilent:
		return []Goal{le("max", 1000, func(s Summary) float64 { return s.Max })}
	}
	return nil
}

// WriteTable prints the per-kind summary of every path, one column group
// per profile, then homeip's goals beside its figures, and the reason a
// path stopped early.
func (r *Result) WriteTable(w io.Writer) {
	c := r.Config
	window := ms(c.Window)
	fmt.Fprintf(w, "handover gaps: TCP cn → node (node receive-only), a record every %v (kind 6: a bulk transfer), %d moves per kind; ms; >%.0f = not resumed within %v (counted broken); dead = no stream before the move\n",
		c.Interval, c.Moves, window, c.Window)
	for _, p := range c.Profiles {
		fmt.Fprintf(w, "  %s: Wi-Fi %v; cellular %v; gap threshold %v\n", p.Name, p.Network.Wifi, p.Network.Cell, c.Threshold(p))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head1, head2 := "\t\t", "path\tkind\t"
	for _, p := range c.Profiles {
		head1 += "| " + p.Name + "\t\t\t\t\t\t\t"
		head2 += "| n\tmedian\tp90\tp99\tmax\tbroken\tdead\t"
	}
	fmt.Fprintln(tw, head1)
	fmt.Fprintln(tw, head2)
	for _, path := range c.Paths {
		for _, k := range c.Kinds {
			row := fmt.Sprintf("%s\t%s\t", path, k)
			for _, p := range c.Profiles {
				s := r.Summary(p.Name, path, k)
				row += fmt.Sprintf("| %d\t%s\t%s\t%s\t%s\t%d\t%d\t", s.Moves,
					formatMS(s.Median, window), formatMS(s.P90, window), formatMS(s.P99, window), formatMS(s.Max, window),
					s.Broken, r.unmeasured(p.Name, path, k))
			}
			fmt.Fprintln(tw, row)
		}
	}
	tw.Flush()
	r.writeGoals(w)
	for _, pr := range r.Paths {
		if pr.Err != nil {
			fmt.Fprintf(w, "%s %s stopped early: %v\n", pr.Profile, pr.Path, pr.Err)
		}
	}
	fmt.Fprintf(w, "took %v\n", r.Took.Round(100*time.Millisecond))
}

// writeGoals prints homeip's figures beside the goals of each kind and
// profile measured.
func (r *Result) writeGoals(w io.Writer) {
	has := false
	for _, p := range r.Config.Paths {
		has = has || p == PathHomeIP
	}
	if !has {
		return
	}
	window := ms(r.Config.Window)
	var lines []string
	for _, k := range r.Config.Kinds {
		for _, p := range r.Config.Profiles {
			s := r.Summary(p.Name, PathHomeIP, k)
			if s.Moves == 0 {
				continue
			}
			for _, g := range Goals(k, p) {
				verdict := "missed"
				if g.Met(s) {
					verdict = "met"
				}
				lines = append(lines, fmt.Sprintf("  %-22s %-8s %-18s %8s  %s", k, p.Name, g.What, formatMS(g.Value(s), window), verdict))
			}
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "goals (homeip):")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
