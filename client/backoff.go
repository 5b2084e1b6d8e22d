package client

import (
	"math/rand/v2"
	"time"
)

// Backoff is a jittered exponential backoff for reconnecting to the home
// agent. Attempt n (from 0) waits a random duration in
// [d·(1−Jitter), d] with d = min(Max, Base·Factorⁿ), so that many nodes
// losing the same home agent do not come back in lockstep. The zero value
// is usable (defaults below). It is pure: randomness comes from Rand.
//
// A Backoff is not safe for concurrent use.
type Backoff struct {
	Base   time.Duration // first delay (default 500 ms)
	Max    time.Duration // cap (default 30 s)
	Factor float64       // growth per attempt (default 2)
	// Jitter is the fraction of each delay that is random, in [0, 1]
	// (default 0.5; a negative value means none).
	Jitter float64
	// Rand returns a number in [0, 1); nil means math/rand/v2.
	Rand func() float64

	attempt int
}

// Next returns the delay before the next attempt and counts it.
func (b *Backoff) Next() time.Duration {
	base, maxD, factor, jitter := b.Base, b.Max, b.Factor, b.Jitter
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if maxD <= 0 {
		maxD = 30 * time.Second
	}
	if maxD < base {
		maxD = base
	}
	if factor <= 1 {
		factor = 2
	}
	switch {
	case jitter == 0:
		jitter = 0.5
	case jitter < 0:
		jitter = 0
	case jitter > 1:
		jitter = 1
	}
	d := float64(base)
	for i := 0; i < b.attempt && d < float64(maxD); i++ {
		d *= factor
	}
	d = min(d, float64(maxD))
	b.attempt++
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return time.Duration(d * (1 - jitter*r()))
}

// Attempts returns how many delays Next handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }

// Reset starts over after a success.
func (b *Backoff) Reset() { b.attempt = 0 }
