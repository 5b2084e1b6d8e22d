package handoverbench

import (
	"fmt"
	"math"
	"slices"
)

// Summary is the distribution of one path's gaps for one kind of move.
// Gaps of moves the stream did not come back from are +Inf, so a
// percentile that falls on them is +Inf too.
type Summary struct {
	Moves  int
	Broken int
	// Median, P90, P99 and Max are in milliseconds (nearest rank);
	// NaN when there were no moves.
	Median, P90, P99, Max float64
}

// Summarize computes the summary of gaps (milliseconds; +Inf for a stream
// that did not resume) and the count of broken streams.
func Summarize(gapsMS []float64, broken int) Summary {
	s := Summary{Moves: len(gapsMS), Broken: broken}
	if len(gapsMS) == 0 {
		nan := math.NaN()
		s.Median, s.P90, s.P99, s.Max = nan, nan, nan, nan
		return s
	}
	sorted := slices.Clone(gapsMS)
	slices.Sort(sorted)
	s.Median = Percentile(sorted, 50)
	s.P90 = Percentile(sorted, 90)
	s.P99 = Percentile(sorted, 99)
	s.Max = sorted[len(sorted)-1]
	return s
}

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted, which must be in ascending order and non-empty: the smallest
// value such that at least p percent of the values are ≤ it.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// formatMS prints a gap in milliseconds for the table: one decimal below
// 100 ms, whole milliseconds above, ">W" for a stream that did not come
// back within the window W, "-" for no data.
func formatMS(v float64, window float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.IsInf(v, 1):
		return fmt.Sprintf(">%.0f", window)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}
