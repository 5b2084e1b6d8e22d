package streamprobe

import (
	"sync"
	"time"
)

// live holds the counters a probe shares with its progress goroutine.
type live struct {
	mu      sync.Mutex // guards the fields below
	bytes   uint64
	records uint64
	lastAt  time.Time
	gaps    int
	maxGap  time.Duration
	missing uint64
}

func (l *live) add(now time.Time, n int) {
	l.mu.Lock()
	l.bytes += uint64(n)
	l.records++
	l.lastAt = now
	l.mu.Unlock()
}

// startProgress calls cfg.Progress every cfg.ProgressInterval until the
// returned stop is called; stop waits for the goroutine and reports a
// final snapshot with Done set. Without a callback it does nothing.
func startProgress(cfg Config, role Role, start time.Time, l *live) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	var prevBytes uint64
	prevAt := start
	snap := func(now time.Time, final bool) Progress {
		l.mu.Lock()
		defer l.mu.Unlock()
		p := Progress{
			Role: role, Elapsed: now.Sub(start), Bytes: l.bytes, Records: l.records,
			Gaps: l.gaps, MaxGap: l.maxGap, Missing: l.missing, Done: final,
		}
		if !l.lastAt.IsZero() {
			p.SinceLast = now.Sub(l.lastAt)
		} else {
			p.SinceLast = now.Sub(start)
		}
		if dt := now.Sub(prevAt); dt > 0 {
			p.RateBps = float64(l.bytes-prevBytes) * 8 / dt.Seconds()
		}
		prevBytes, prevAt = l.bytes, now
		return p
	}
	go func() {
		defer close(done)
		t := time.NewTicker(cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				cfg.Progress(snap(now, false))
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		cfg.Progress(snap(time.Now(), true))
	}
}
