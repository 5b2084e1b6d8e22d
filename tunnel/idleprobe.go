package tunnel

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Idle probes.
//
// A mobile node learns how long its NAT keeps an idle UDP mapping without
// risking the mapping its tunnel lives on: it opens a second UDP socket
// (its own NAT mapping) towards the home agent's shared port and asks the
// home agent to answer after a delay. If the answer arrives, the NAT kept
// that mapping for the delay; if not, the probe socket lost its mapping,
// which costs nothing.
//
// An idle probe is exactly IdleProbeSize bytes:
//
//	0      IdleProbeKind (0x08): neither a WireGuard type (1..4 followed by
//	       three zero bytes) nor a QUIC packet (0x40 bit clear)
//	1..3   "hip"
//	4      version, 1
//	5      op: 1 request, 2 reply
//	6..7   delay in seconds, big endian: how long the home agent waits
//	       before it answers (a reply carries the request's)
//	8..23  nonce, chosen at random by the node and echoed unchanged
//
// A reply is the request with op set to 2: exactly as large as the request
// and sent once, so the home agent is no amplifier. The node accepts only a
// reply carrying the nonce of its outstanding request, which an off-path
// attacker cannot guess. The home agent bounds the replies it holds in
// total and per source address and how many requests it accepts per
// second, so spoofed requests can make it send no more, and no larger,
// packets than they cost.

// IdleProbeSize is the size of every idle probe datagram.
const IdleProbeSize = 24

// IdleProbeKind is the first byte of an idle probe.
const IdleProbeKind = 0x08

// MaxIdleProbeDelay is the longest delay a request may ask for.
const MaxIdleProbeDelay = 15 * time.Minute

const (
	idleProbeVersion = 1
	// IdleProbeRequest asks the home agent to answer after Delay.
	IdleProbeRequest = 1
	// IdleProbeReply is the home agent's answer.
	IdleProbeReply = 2
)

// ErrNotIdleProbe is returned by ParseIdleProbe for anything that is not a
// well-formed idle probe.
var ErrNotIdleProbe = errors.New("tunnel: not an idle probe")

// IdleProbe is one idle probe message.
type IdleProbe struct {
	// Op is IdleProbeRequest or IdleProbeReply.
	Op uint8
	// Delay is how long the home agent waits before answering, whole
	// seconds up to MaxIdleProbeDelay.
	Delay time.Duration
	// Nonce identifies the request; the reply echoes it.
	Nonce [16]byte
}

// NewIdleProbeRequest returns a request for an answer after delay with a
// fresh random nonce. delay is rounded up to whole seconds.
func NewIdleProbeRequest(delay time.Duration) (IdleProbe, error) {
	p := IdleProbe{Op: IdleProbeRequest, Delay: min(max(delay, 0), MaxIdleProbeDelay)}
	p.Delay = (p.Delay + time.Second - 1).Truncate(time.Second)
	if _, err := rand.Read(p.Nonce[:]); err != nil {
		return p, fmt.Errorf("tunnel: idle probe nonce: %w", err)
	}
	return p, nil
}

// Marshal returns the wire form of p.
func (p IdleProbe) Marshal() []byte {
	b := make([]byte, IdleProbeSize)
	b[0], b[1], b[2], b[3] = IdleProbeKind, 'h', 'i', 'p'
	b[4], b[5] = idleProbeVersion, p.Op
	secs := min(max(p.Delay, 0), MaxIdleProbeDelay) / time.Second
	binary.BigEndian.PutUint16(b[6:8], uint16(secs))
	copy(b[8:], p.Nonce[:])
	return b
}

// ParseIdleProbe parses an idle probe. It never panics and rejects
// anything but an exact, known message.
func ParseIdleProbe(b []byte) (IdleProbe, error) {
	var p IdleProbe
	if len(b) != IdleProbeSize || b[0] != IdleProbeKind || b[1] != 'h' || b[2] != 'i' || b[3] != 'p' {
		return p, ErrNotIdleProbe
	}
	if b[4] != idleProbeVersion {
		return p, fmt.Errorf("tunnel: idle probe version %d: %w", b[4], ErrNotIdleProbe)
	}
	p.Op = b[5]
	if p.Op != IdleProbeRequest && p.Op != IdleProbeReply {
		return p, fmt.Errorf("tunnel: idle probe op %d: %w", p.Op, ErrNotIdleProbe)
	}
	p.Delay = time.Duration(binary.BigEndian.Uint16(b[6:8])) * time.Second
	if p.Delay > MaxIdleProbeDelay {
		return p, fmt.Errorf("tunnel: idle probe delay %v: %w", p.Delay, ErrNotIdleProbe)
	}
	copy(p.Nonce[:], b[8:])
	return p, nil
}

// IdleProbeLimits bound what a home agent holds and sends for idle probes.
// Zero fields take the defaults documented on each.
type IdleProbeLimits struct {
	// Pending is the most replies waiting for their delay (default 4096).
	Pending int
	// PerSource is the most replies waiting for one source address, any
	// port (default 4: a node behind a NAT shared with others).
	PerSource int
	// Rate is the most requests accepted per second (default 200); the
	// rest are dropped.
	Rate int
}

func (l IdleProbeLimits) withDefaults() IdleProbeLimits {
	if l.Pending <= 0 {
		l.Pending = 4096
	}
	if l.PerSource <= 0 {
		l.PerSource = 4
	}
	if l.Rate <= 0 {
		l.Rate = 200
	}
	return l
}

// IdleProbeStats counts what a home agent did with idle probes.
type IdleProbeStats struct {
	// Answered is how many replies were sent.
	Answered uint64
	// Refused counts requests dropped by a limit.
	Refused uint64
	// Malformed counts datagrams of the idle probe kind that did not parse
	// or were not requests.
	Malformed uint64
}

// idleProbeResponder answers idle probe requests after their delay. Its
// timers are its own: close stops them all.
type idleProbeResponder struct {
	log    *slog.Logger
	limits IdleProbeLimits
	send   func(p []byte, to netip.AddrPort, local netip.Addr) error
	now    func() time.Time

	mu        sync.Mutex
	closed    bool
	pending   map[*time.Timer]struct{}
	perSource map[netip.Addr]int
	window    time.Time // start of the current one-second rate window
	inWindow  int
	stats     IdleProbeStats
}

func newIdleProbeResponder(limits IdleProbeLimits, send func([]byte, netip.AddrPort, netip.Addr) error, log *slog.Logger) *idleProbeResponder {
	return &idleProbeResponder{
		log: log, limits: limits.withDefaults(), send: send, now: time.Now,
		pending: map[*time.Timer]struct{}{}, perSource: map[netip.Addr]int{},
	}
}

// handle takes one datagram of the idle probe kind from from, received on
// local. It copies what it keeps.
func (r *idleProbeResponder) handle(b []byte, from netip.AddrPort, local netip.Addr) {
	p, err := ParseIdleProbe(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || p.Op != IdleProbeRequest || !from.IsValid() {
		r.stats.Malformed++
		return
	}
	if r.closed {
		return
	}
	now := r.now()
	if now.Sub(r.window) >= time.Second || now.Before(r.window) {
		r.window, r.inWindow = now, 0
	}
	src := from.Addr().Unmap()
	if r.inWindow >= r.limits.Rate || len(r.pending) >= r.limits.Pending || r.perSource[src] >= r.limits.PerSource {
		r.stats.Refused++
		return
	}
	r.inWindow++
	p.Op = IdleProbeReply
	reply := p.Marshal()
	r.perSource[src]++
	var t *time.Timer
	t = time.AfterFunc(p.Delay, func() {
		r.mu.Lock()
		if _, ok := r.pending[t]; !ok {
			r.mu.Unlock()
			return
		}
		delete(r.pending, t)
		if r.perSource[src]--; r.perSource[src] <= 0 {
			delete(r.perSource, src)
		}
		r.stats.Answered++
		r.mu.Unlock()
		if err := r.send(reply, from, local); err != nil {
			r.log.Debug("idle probe reply not sent", "to", from, "err", err)
		}
	})
	r.pending[t] = struct{}{}
}

// close stops every pending reply.
func (r *idleProbeResponder) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for t := range r.pending {
		t.Stop()
	}
	clear(r.pending)
	clear(r.perSource)
}

func (r *idleProbeResponder) snapshot() IdleProbeStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}
