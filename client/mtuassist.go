package client

import (
	"time"

	"github.com/homeip/homeip/binding"
)

// Path MTU search assist.
//
// quic-go probes the path MTU only when the connection sends anyway: its
// probe goes out with the next packet once five smoothed RTTs have passed
// since the last one, and an idle control connection sends a heartbeat
// every keepalive interval at most. Left alone, a search on a fresh path
// therefore moves at heartbeat pace, tens of seconds for its six or seven
// probes, while a silent path that carries less than the tunnel sends
// drops every full-size packet (a bulk transfer stalled 53-56 s in the
// lab). The assist keeps the connection sending while its search runs: a
// one-byte QUIC DATAGRAM (RFC 9221) every five RTTs and a bit, so each
// one carries a probe out on the node's side and the home agent's
// acknowledgement carries one out on its side. The home agent does not
// read datagrams; quic-go drops them from a small queue. The home
// agent's search of the other direction is driven by the same datagrams
// and ends at about the same time, but the node cannot see it: once the
// node's own search concluded (mtuTrace) the datagrams go on for as long
// again as it took (at least four intervals), then stop; never after
// assistMax, or when the connection ends.

const (
	// assistMax bounds the assist on one connection: a search takes six
	// or seven probes, five RTTs apart.
	assistMax = 20 * time.Second
	// assistMin and assistCeil bound the interval between datagrams: not
	// faster than a busy loop on a fast path, not slower than what still
	// concludes within seconds on a long one.
	assistMin  = 20 * time.Millisecond
	assistCeil = time.Second
)

// assistInterval is the pause between datagrams for a smoothed RTT of
// rtt: just over quic-go's five RTTs between probes, so every datagram
// finds a probe due.
func assistInterval(rtt time.Duration) time.Duration {
	return min(max(5*rtt+rtt/4, assistMin), assistCeil)
}

// runSearchAssist sends datagrams on the session's connection until the
// search concluded, the connection ended, or assistMax passed. It belongs
// to the session (started by dialSession, waited for by Close).
func (s *session) runSearchAssist(concluded <-chan struct{}) {
	defer close(s.assistDone)
	start := time.Now()
	deadline := time.NewTimer(assistMax)
	defer deadline.Stop()
	tick := time.NewTimer(assistInterval(s.RTT()))
	defer tick.Stop()
	for {
		select {
		case <-s.conn.Context().Done():
			return
		case <-s.done:
			return
		case <-concluded:
			concluded = nil
			took := time.Since(start)
			rest := max(took, 4*assistInterval(s.RTT()))
			deadline.Reset(min(rest, assistMax-took))
			continue
		case <-deadline.C:
			return
		case <-tick.C:
		}
		if err := s.conn.SendDatagram([]byte{binding.SearchAssistDatagram}); err != nil {
			// The home agent does not take datagrams (an older one), or
			// the connection is going: the search keeps heartbeat pace.
			s.log.Debug("path MTU search assist stopped", "err", err)
			return
		}
		tick.Reset(assistInterval(s.RTT()))
	}
}
