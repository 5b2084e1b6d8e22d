package handoverbench

import (
	"math"
	"testing"
)

func TestPercentile(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"one value", []float64{7}, 50, 7},
		{"median odd", []float64{1, 2, 3}, 50, 2},
		{"median even takes lower", []float64{1, 2, 3, 4}, 50, 2},
		{"p90 of ten", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9},
		{"p99 of ten is max", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
		{"p100", []float64{1, 2, 3}, 100, 3},
		{"tiny p is min", []float64{1, 2, 3}, 0.1, 1},
		{"inf on top", []float64{1, 2, inf}, 99, inf},
		{"inf does not move median", []float64{1, 2, inf}, 50, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
	if got := Percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("Percentile(nil) = %v, want NaN", got)
	}
}

func TestSummarize(t *testing.T) {
	gaps := make([]float64, 0, 100)
	for i := 100; i >= 1; i-- { // unsorted input
		gaps = append(gaps, float64(i))
	}
	s := Summarize(gaps, 3)
	if s.Moves != 100 || s.Broken != 3 || s.Median != 50 || s.P90 != 90 || s.P99 != 99 || s.Max != 100 {
		t.Errorf("Summarize = %+v", s)
	}
	if gaps[0] != 100 {
		t.Errorf("Summarize sorted its input in place")
	}
	e := Summarize(nil, 0)
	if e.Moves != 0 || !math.IsNaN(e.Median) || !math.IsNaN(e.Max) {
		t.Errorf("Summarize(nil) = %+v", e)
	}
}

func TestFormatMS(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{math.NaN(), "-"},
		{math.Inf(1), ">3000"},
		{12.345, "12.3"},
		{99.94, "99.9"},
		{1234.5, "1234"},
	}
	for _, tt := range tests {
		if got := formatMS(tt.v, 3000); got != tt.want {
			t.Errorf("formatMS(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
