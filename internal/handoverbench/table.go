package handoverbench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Summary returns the distribution of path's gaps for kind k.
func (r *Result) Summary(path string, k Kind) Summary {
	var gaps []float64
	broken := 0
	for _, pr := range r.Paths {
		if pr.Path != path {
			continue
		}
		for _, m := range pr.Moves {
			if m.Kind != k {
				continue
			}
			gaps = append(gaps, m.GapMS)
			if m.Broken {
				broken++
			}
		}
	}
	return Summarize(gaps, broken)
}

// unmeasured counts the moves of path and kind whose stream could not be
// set up before the move.
func (r *Result) unmeasured(path string, k Kind) int {
	n := 0
	for _, pr := range r.Paths {
		if pr.Path != path {
			continue
		}
		for _, m := range pr.Moves {
			if m.Kind == k && m.Unmeasured {
				n++
			}
		}
	}
	return n
}

// WriteTable prints the per-kind summary of every path, and the reason a
// path stopped early.
func (r *Result) WriteTable(w io.Writer) {
	c := r.Config
	window := ms(c.Window)
	fmt.Fprintf(w, "handover gaps: TCP cn → node (node receive-only), a record every %v, %d moves per kind; ms; >%.0f = not resumed within %v (counted broken)\n",
		c.Interval, c.Moves, window, c.Window)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tkind\tmoves\tmedian\tp90\tp99\tmax\tbroken\tdead before move\t")
	for _, pr := range r.Paths {
		for _, k := range c.Kinds {
			s := r.Summary(pr.Path, k)
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t\n", pr.Path, k, s.Moves,
				formatMS(s.Median, window), formatMS(s.P90, window), formatMS(s.P99, window), formatMS(s.Max, window),
				s.Broken, r.unmeasured(pr.Path, k))
		}
	}
	tw.Flush()
	for _, pr := range r.Paths {
		if pr.Err != nil {
			fmt.Fprintf(w, "%s stopped early: %v\n", pr.Path, pr.Err)
		}
	}
	fmt.Fprintf(w, "took %v\n", r.Took.Round(100_000_000))
}
