package homeagent

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/homeip/homeip/binding"
)

// Limits on what unauthenticated peers can make the home agent do.
const (
	// sourceFailRate and sourceFailBurst bound failed unauthenticated
	// attempts (bad enrolment tokens, unknown identity keys) per source:
	// a burst of 5, then one every 2 s.
	sourceFailRate  = 0.5
	sourceFailBurst = 5
	// maxSources bounds the sources tracked at once. A source whose
	// bucket is full again is forgotten; when the table is full of
	// sources still over their budget, unknown sources are refused too,
	// until entries refill (a flood from many addresses costs memory
	// bounded by this, and delays enrolment rather than exhausting the
	// store).
	maxSources = 1 << 16
	// refusedLogRate and refusedLogBurst bound the log lines about
	// refused unauthenticated requests.
	refusedLogRate  = 1
	refusedLogBurst = 10
	// refusalGrace is how long a connection stays open after a refused
	// enrolment or registration, so that the answer arrives first.
	refusalGrace = 200 * time.Millisecond
)

// sourceLimiter counts failed unauthenticated attempts per source: an IPv4
// address, or the /64 of an IPv6 address (one subscriber's share).
type sourceLimiter struct {
	lim binding.Limiter
	max int

	mu   sync.Mutex
	tats map[netip.Addr]int64 // guarded by mu
	// swept is when the full table was last swept (guarded by mu): at
	// most once a second, so that a flood against a full table costs a
	// map lookup per request, not a walk of the table.
	swept time.Time
}

func newSourceLimiter() *sourceLimiter {
	return &sourceLimiter{lim: binding.NewLimiter(sourceFailRate, sourceFailBurst), max: maxSources, tats: map[netip.Addr]int64{}}
}

func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// blocked reports whether source a has spent its budget of failures.
func (l *sourceLimiter) blocked(a netip.Addr, now time.Time) bool {
	k := sourceKey(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tats[k]
	if !ok {
		return len(l.tats) >= l.max && !l.sweepLocked(now)
	}
	return !l.lim.Ready(tat, now)
}

// fail counts one failed attempt from source a.
func (l *sourceLimiter) fail(a netip.Addr, now time.Time) {
	k := sourceKey(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tats[k]
	if !ok && len(l.tats) >= l.max && !l.sweepLocked(now) {
		return // full of sources over their budget: blocked refuses them all
	}
	l.lim.Allow(&tat, now)
	l.tats[k] = tat
}

// sweepLocked forgets the sources whose bucket is full again (they are as
// good as unknown) and reports whether there is room now; within a second
// of the last sweep it does nothing and reports no room. l.mu must be
// held.
func (l *sourceLimiter) sweepLocked(now time.Time) bool {
	if !l.swept.IsZero() && now.Sub(l.swept) < time.Second && now.After(l.swept) {
		return false
	}
	l.swept = now
	t := now.UnixNano()
	for k, tat := range l.tats {
		if tat <= t {
			delete(l.tats, k)
		}
	}
	return len(l.tats) < l.max
}

// logLimiter keeps the lines about refused unauthenticated requests from
// flooding the log: beyond its budget lines are dropped and counted, and
// the next line that goes out says how many were.
type logLimiter struct {
	log *slog.Logger
	lim binding.Limiter
	now func() time.Time

	mu         sync.Mutex
	tat        int64 // guarded by mu
	suppressed int   // guarded by mu
}

func newLogLimiter(log *slog.Logger, now func() time.Time) *logLimiter {
	return &logLimiter{log: log, lim: binding.NewLimiter(refusedLogRate, refusedLogBurst), now: now}
}

// Log logs msg at level if the budget allows.
func (l *logLimiter) Log(level slog.Level, msg string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.mu.Lock()
	if !l.lim.Allow(&l.tat, l.now()) {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed_before", n)
	}
	l.log.Log(context.Background(), level, msg, args...)
}
