package client

import (
	"context"
	"time"
)

// onHeartbeat probes the path after an idle gap of the learner's
// interval: it keeps the NAT mapping open, measures the RTT, tells the
// learner whether the mapping survived (the home agent saw the same
// address), and detects a dead path (no answer after retries), on which
// the node fails over to the standby link or reconnects.
func (r *runner) onHeartbeat() {
	if r.sess == nil {
		return
	}
	if r.sendKeepalive() {
		return
	}
	gap := time.Since(r.lastSent)
	timeout := r.heartbeatTimeout()
	for attempt := 0; attempt <= r.cfg.HeartbeatRetries; attempt++ {
		ctx, cancel := context.WithTimeout(r.ctx, timeout)
		r.lastSent = time.Now()
		rtt, observed, err := r.sess.Heartbeat(ctx)
		cancel()
		if r.ctx.Err() != nil {
			return
		}
		if err != nil {
			r.log.Debug("heartbeat unanswered", "attempt", attempt+1, "err", err)
			select {
			case <-r.sess.Done():
				r.onSessionLost()
				return
			default:
			}
			continue
		}
		r.rtt = rtt
		natRebound := observed.IsValid() && r.observed.IsValid() && observed != r.observed
		if attempt == 0 {
			r.learner.Observe(gap, !natRebound)
		}
		r.hb.Reset(r.learner.Interval())
		r.n.updateStatus(func(s *Status) {
			s.RTTms = float64(rtt.Microseconds()) / 1000
			s.KeepaliveS = r.learner.Interval().Seconds()
			s.KeepaliveLearned = r.learner.Status().Converged
		})
		if natRebound {
			// The NAT gave us a new public address: tell the home agent at
			// once so its WireGuard endpoint follows.
			r.n.updateStatus(func(s *Status) { s.NATRebinds++ })
			r.log.Info("NAT mapping changed", "was", r.observed, "now", observed, "idle_gap", gap.Round(time.Second))
			r.observed = observed
			if err := r.bind(); err != nil {
				r.log.Warn("binding update after NAT rebinding", "err", err)
			}
		}
		return
	}
	r.pathDead()
}

// heartbeatTimeout is Config.HeartbeatTimeout, or four smoothed RTTs of
// the path clamped to [500 ms, 2 s].
func (r *runner) heartbeatTimeout() time.Duration {
	if r.cfg.HeartbeatTimeout > 0 {
		return r.cfg.HeartbeatTimeout
	}
	rtt := r.sess.RTT()
	if r.rtt > rtt {
		rtt = r.rtt
	}
	return min(max(4*rtt, 500*time.Millisecond), 2*time.Second)
}

// pathDead handles a path whose heartbeats went unanswered: the primary
// link is avoided for a while and the node moves to the next link, or
// reconnects if there is none.
func (r *runner) pathDead() {
	at := time.Now()
	if r.hasLink && r.cfg.Watcher != nil {
		r.log.Warn("path dead: heartbeats unanswered", "link", r.primary.Name)
		r.suspect[r.primary.Index] = at.Add(r.cfg.SuspectFor)
		r.unsuspect.Reset(r.cfg.SuspectFor)
		prev := r.primary
		r.setLinks(Delta{})
		if r.hasLink && r.primary.Index != prev.Index {
			r.learner.Reset()
			r.handover("path through "+prev.Name+" dead, failing over to "+r.primary.Name, at, prev, false)
			return
		}
	} else {
		r.log.Warn("path dead: heartbeats unanswered")
	}
	// No other link: start over on this one.
	r.sess.Close()
	r.onSessionLost()
}
