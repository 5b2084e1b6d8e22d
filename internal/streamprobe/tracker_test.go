package streamprobe

import (
	"testing"
	"time"
)

func TestTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tr := newTracker(t0, 20*time.Millisecond)
	// seq: arrival ms
	steps := []struct {
		seq uint64
		ms  int
	}{
		{0, 1}, {1, 2}, {2, 3}, // in order
		{3, 53}, // 50 ms gap
		{6, 54}, // 4, 5 missing
		{4, 55}, // 4 late: reordered
		{4, 56}, // duplicate
		{7, 76}, // exactly 20 ms: not a gap
		{8, 97}, // 21 ms: a gap
		{9, 98},
	}
	for _, s := range steps {
		tr.arrive(at(s.ms), s.seq, at(s.ms-1))
	}
	tr.finish(at(200)) // 102 ms since the last record: open gap
	var r Report
	tr.fill(&r)
	if r.Missing != 1 || r.Reordered != 1 || r.Duplicate != 1 {
		t.Fatalf("missing %d reordered %d duplicate %d, want 1 1 1", r.Missing, r.Reordered, r.Duplicate)
	}
	want := []Gap{
		{Start: at(3), OffsetMS: 3, DurationMS: 50, AfterSeq: 2, BeforeSeq: 3},
		{Start: at(76), OffsetMS: 76, DurationMS: 21, AfterSeq: 7, BeforeSeq: 8},
		{Start: at(98), OffsetMS: 98, DurationMS: 102, AfterSeq: 9, Open: true},
	}
	if len(r.Gaps) != len(want) {
		t.Fatalf("gaps %+v, want %+v", r.Gaps, want)
	}
	for i := range want {
		if !r.Gaps[i].Start.Equal(want[i].Start) || r.Gaps[i].OffsetMS != want[i].OffsetMS ||
			r.Gaps[i].DurationMS != want[i].DurationMS || r.Gaps[i].AfterSeq != want[i].AfterSeq ||
			r.Gaps[i].BeforeSeq != want[i].BeforeSeq || r.Gaps[i].Open != want[i].Open {
			t.Errorf("gap %d = %+v, want %+v", i, r.Gaps[i], want[i])
		}
	}
	if r.MaxGapMS != 102 {
		t.Errorf("max gap %v ms, want 102", r.MaxGapMS)
	}
	if r.Latency == nil || r.Latency.MinMS != 1 || r.Latency.MaxMS != 1 {
		t.Errorf("latency %+v, want 1 ms", r.Latency)
	}
}

func TestTrackerEmpty(t *testing.T) {
	tr := newTracker(time.Unix(0, 0), time.Millisecond)
	tr.finish(time.Unix(10, 0))
	var r Report
	tr.fill(&r)
	if len(r.Gaps) != 0 || r.Latency != nil {
		t.Fatalf("empty stream report %+v", r)
	}
}
