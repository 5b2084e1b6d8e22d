package streamprobe

import "time"

// maxTrackedMissing bounds the set of missing sequence numbers remembered
// for reorder detection; beyond it, late records count as duplicates.
const maxTrackedMissing = 1 << 16

// tracker is the receiver's pure accounting: sequence continuity, gaps
// and latency, fed with arrival times. It is not safe for concurrent use.
type tracker struct {
	threshold time.Duration
	start     time.Time

	have     bool
	last     time.Time // arrival of the latest record
	lastSeq  uint64
	expected uint64 // next in-order sequence number

	missingSet map[uint64]struct{}
	missing    uint64
	reordered  uint64
	duplicate  uint64

	gaps   []Gap
	maxGap time.Duration

	latN                     uint64
	latMin, latMax, latTotal time.Duration
}

func newTracker(start time.Time, threshold time.Duration) *tracker {
	return &tracker{threshold: threshold, start: start, missingSet: map[uint64]struct{}{}}
}

// arrive accounts for data record seq, sent at sent, arriving at now.
func (t *tracker) arrive(now time.Time, seq uint64, sent time.Time) {
	if t.have {
		if d := now.Sub(t.last); d > t.threshold {
			t.gaps = append(t.gaps, Gap{
				Start:      t.last,
				OffsetMS:   ms(t.last.Sub(t.start)),
				DurationMS: ms(d),
				AfterSeq:   t.lastSeq,
				BeforeSeq:  seq,
			})
		}
		t.maxGap = max(t.maxGap, now.Sub(t.last))
	}
	t.have, t.last, t.lastSeq = true, now, seq

	switch {
	case seq == t.expected:
		t.expected++
	case seq > t.expected:
		for s := t.expected; s < seq; s++ {
			if len(t.missingSet) >= maxTrackedMissing {
				break
			}
			t.missingSet[s] = struct{}{}
		}
		t.missing += seq - t.expected
		t.expected = seq + 1
	default:
		if _, ok := t.missingSet[seq]; ok {
			delete(t.missingSet, seq)
			t.missing--
			t.reordered++
		} else {
			t.duplicate++
		}
	}

	if lat := now.Sub(sent); !sent.IsZero() {
		if t.latN == 0 || lat < t.latMin {
			t.latMin = lat
		}
		t.latMax = max(t.latMax, lat)
		t.latTotal += lat
		t.latN++
	}
}

// finish closes the books at now: a pause since the last record longer
// than the threshold becomes an open gap.
func (t *tracker) finish(now time.Time) {
	if !t.have {
		return
	}
	if d := now.Sub(t.last); d > t.threshold {
		t.gaps = append(t.gaps, Gap{
			Start:      t.last,
			OffsetMS:   ms(t.last.Sub(t.start)),
			DurationMS: ms(d),
			AfterSeq:   t.lastSeq,
			Open:       true,
		})
		t.maxGap = max(t.maxGap, d)
	}
}

// fill copies the tracker's results into r.
func (t *tracker) fill(r *Report) {
	r.Missing, r.Reordered, r.Duplicate = t.missing, t.reordered, t.duplicate
	r.Gaps = append([]Gap{}, t.gaps...)
	r.MaxGapMS = ms(t.maxGap)
	r.GapThresholdMS = ms(t.threshold)
	if t.latN > 0 {
		r.Latency = &Latency{MinMS: ms(t.latMin), AvgMS: ms(t.latTotal / time.Duration(t.latN)), MaxMS: ms(t.latMax)}
	}
}
