package binding

import "time"

// Rate-limit defaults of the home agent: per device, every control
// message counts.
const (
	DefaultUpdateRate  = 10 // messages per second per device
	DefaultUpdateBurst = 20
)

// Limiter is a token bucket of burst messages at once, refilled at rate
// per second, as a generic cell rate algorithm: the state of one bucket is
// a single timestamp (the theoretical arrival time, Unix nanoseconds) that
// the caller keeps where it likes — the home agent keeps it with the
// device, not with the binding, so that a deregistration or an expiry does
// not refill it. The zero Limiter, or one made with a negative rate,
// allows everything. A Limiter is immutable and safe for concurrent use;
// the caller guards its timestamps.
type Limiter struct {
	interval, tau int64 // emission interval and burst tolerance, ns
}

// NewLimiter returns a Limiter of burst messages refilled at rate per
// second; a rate of 0 takes DefaultUpdateRate and a burst below 1
// DefaultUpdateBurst, and a negative rate disables the limit.
func NewLimiter(rate float64, burst int) Limiter {
	if rate < 0 {
		return Limiter{}
	}
	if rate == 0 {
		rate = DefaultUpdateRate
	}
	if burst < 1 {
		burst = DefaultUpdateBurst
	}
	iv := int64(float64(time.Second) / rate)
	return Limiter{interval: iv, tau: iv * int64(burst-1)}
}

// Allow reports whether a message arriving at now conforms to the bucket
// whose state is *tat, and if so counts it (updates *tat). A refused
// message costs nothing. A state further ahead of now than Allow ever
// leaves it (the clock was stepped back) counts as a full bucket.
func (l Limiter) Allow(tat *int64, now time.Time) bool {
	if l.interval == 0 {
		return true
	}
	t := now.UnixNano()
	next := max(l.sane(*tat, t), t) + l.interval
	if next-t > l.tau+l.interval {
		return false
	}
	*tat = next
	return true
}

// Ready reports whether Allow would accept a message at now, without
// counting one.
func (l Limiter) Ready(tat int64, now time.Time) bool {
	if l.interval == 0 {
		return true
	}
	t := now.UnixNano()
	return max(l.sane(tat, t), t)+l.interval-t <= l.tau+l.interval
}

// sane is tat, or t when tat is further ahead of t than Allow leaves it.
func (l Limiter) sane(tat, t int64) int64 {
	if tat-t > l.tau+l.interval {
		return t
	}
	return tat
}
