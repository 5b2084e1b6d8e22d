package client

import (
	"context"
	"time"
)

// restartStall starts stall detection afresh on a new control session
// (a new path): the next sample is a baseline.
func (r *runner) restartStall() {
	if r.stall == nil {
		return
	}
	r.stall.Reset()
	r.scheduleStall()
}

// activitySource is implemented by data planes that signal WireGuard
// traffic (tunnel.Device, tunneltest.DataPlane): an idle node then waits
// for it instead of sampling the counters on a timer.
type activitySource interface {
	Activity() <-chan struct{}
}

// scheduleStall arranges the next sample: after the detector's Next, or,
// when it is idle and the data plane signals activity, on the next
// WireGuard datagram.
func (r *runner) scheduleStall() {
	if r.activity != nil && r.stall.Idle() {
		r.stallT.Stop()
		r.waitActivity = true
		return
	}
	r.waitActivity = false
	r.stallT.Reset(r.stall.Next())
}

// stopStall stops sampling (no session).
func (r *runner) stopStall() {
	r.stallT.Stop()
	r.waitActivity = false
}

// pathRTT is the best estimate of the current path's RTT: the QUIC
// smoothed RTT, or the last heartbeat's if that was longer.
func (r *runner) pathRTT() time.Duration {
	rtt := r.rtt
	if r.sess != nil {
		rtt = max(rtt, r.sess.RTT())
	}
	return rtt
}

// onActivity takes a sample at once when traffic passes an idle tunnel.
func (r *runner) onActivity() {
	r.waitActivity = false
	r.onStallSample()
}

// onStallSample reads the home agent peer's traffic counters, hands them
// to the detector, and probes the path when it says so. Sampling stops
// while there is no session; restartStall resumes it.
func (r *runner) onStallSample() {
	if r.stall == nil || r.sess == nil {
		return
	}
	if !r.peerKey.IsZero() {
		peers, err := r.dp.Peers()
		if err != nil {
			r.log.Debug("reading the tunnel's counters", "err", err)
		}
		for _, p := range peers {
			if p.PublicKey != r.peerKey {
				continue
			}
			if r.stall.Observe(time.Now(), p.RxBytes, p.TxBytes, r.pathRTT()) {
				r.onStall()
				if r.sess == nil {
					return // lost and reconnecting: connect restarts sampling
				}
			}
			break
		}
	}
	r.scheduleStall()
}

// onStall probes a path whose traffic stalled: a heartbeat at once with
// a short RTT-based timeout, one retry, and if neither is answered the
// path is dead (pathDead: fail over to the standby link, make-before-
// break, binding update at once; or reconnect). An answered probe that
// the home agent saw come from a new address found a NAT that forgot
// our mapping (the home agent re-pointed our peer on it; a binding update
// follows); any other answered probe is a false alarm: the path was only
// idle.
func (r *runner) onStall() {
	start := time.Now()
	timeout := r.stall.ProbeTimeout(r.pathRTT())
	r.n.updateStatus(func(s *Status) { s.StallProbes++ })
	for attempt := 1; attempt <= 2; attempt++ {
		ctx, cancel := context.WithTimeout(r.ctx, timeout)
		r.lastSent = time.Now()
		rtt, observed, err := r.sess.Heartbeat(ctx)
		cancel()
		if r.ctx.Err() != nil {
			return
		}
		if err == nil {
			r.rtt = rtt
			rebound := observed.IsValid() && r.observed.IsValid() && observed != r.observed
			r.n.updateStatus(func(s *Status) {
				if rebound {
					s.NATRebinds++
				} else {
					s.StallFalseAlarms++
				}
				s.RTTms = float64(rtt.Microseconds()) / 1000
			})
			if !rebound {
				r.log.Debug("traffic stalled but the path answers (false alarm)", "attempt", attempt, "rtt", rtt)
				return
			}
			// The NAT in front of us gave us a new mapping (it forgot the
			// old one): the home agent re-pointed our peer when this probe
			// arrived; the binding update moves the binding too. Not a
			// lesson for the keepalive learner: the mapping was not idle.
			r.log.Info("NAT mapping changed under traffic", "was", r.observed, "now", observed, "stalled_for", time.Since(start).Round(time.Millisecond))
			r.observed = observed
			if err := r.bind(); err != nil {
				r.log.Warn("binding update after NAT rebinding", "err", err)
			}
			return
		}
		r.log.Debug("stall probe unanswered", "attempt", attempt, "timeout", timeout, "err", err)
		select {
		case <-r.sess.Done():
			r.onSessionLost()
			return
		default:
		}
	}
	r.log.Info("traffic stalled and the path does not answer", "link", r.primary.Name, "probing_took", time.Since(start).Round(time.Millisecond))
	r.pathDead()
}
