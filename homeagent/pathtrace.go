package homeagent

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"

	"github.com/homeip/homeip/binding"
)

// connPaths follows one control connection's network paths through
// quic-go's qlog events (quic.Config.Tracer): which address the latest
// packet came from, and what path MTU discovery confirmed on the active
// path. It is the connection's qlogwriter.Trace and its only Recorder;
// quic-go calls RecordEvent from the connection's goroutine, the session
// reads from its own, so every field is guarded by mu.
//
// Why the latest packet's address and not conn.RemoteAddr(): after a NAT
// rebinding quic-go keeps sending to the old address until it has
// validated the new one (RFC 9000 §9), so RemoteAddr() still names the
// dead mapping while the device's packets, a heartbeat among them,
// already arrive from the new one. A control message is answered, and a
// binding update applied, with the address it really came from.
type connPaths struct {
	mu        sync.Mutex
	probing   map[string]netip.AddrPort // tuple id of a path quic-go has not switched to -> remote
	lastTuple string                    // tuple of the latest packet received; "" = the active path
	active    netip.AddrPort            // the active path's remote, as its TupleAssigned said; zero = not reported
	mtu       int                       // largest UDP payload confirmed on the active path, 0 = none yet
	mtuDone   bool                      // the search on the active path has ended
	// updates is signalled (never blocking) when the path MTU result
	// changed; the connection's MTU follower (Server.followPathMTU) reads
	// it. quic-go records events from its connection goroutine, which must
	// not wait for a device lock: closing a connection waits for that
	// goroutine, and connections are closed with device locks held.
	updates chan struct{}
	// settle concludes a search that went quiet (binding.PathMTUSettle);
	// gen
	// invalidates a timer armed for an earlier result or path.
	settle *time.Timer
	gen    uint64
	closed bool
	rtt    func() time.Duration // the connection's smoothed RTT, set by the session; nil before
}

var _ qlogwriter.Trace = (*connPaths)(nil)

func newConnPaths() *connPaths {
	return &connPaths{probing: map[string]netip.AddrPort{}, updates: make(chan struct{}, 1)}
}

// notify signals updates without blocking.
func (p *connPaths) notify() {
	select {
	case p.updates <- struct{}{}:
	default:
	}
}

// Updates is signalled when the path MTU result changed (nil for a nil
// connPaths: never).
func (p *connPaths) Updates() <-chan struct{} {
	if p == nil {
		return nil
	}
	return p.updates
}

// AddProducer implements qlogwriter.Trace: the connection records into
// the trace itself.
func (p *connPaths) AddProducer() qlogwriter.Recorder { return pathRecorder{p} }

// pathRecorder is the Recorder quic-go writes a connection's events to.
type pathRecorder struct{ p *connPaths }

// RecordEvent keeps what connPaths needs of ev and drops the rest.
func (r pathRecorder) RecordEvent(ev qlogwriter.Event) {
	p := r.p
	switch e := ev.(type) {
	case qlog.TupleAssigned:
		p.mu.Lock()
		if e.TupleID == "" {
			// quic-go switched to a validated path (or reports its first
			// one): probes of other paths are over, and path MTU
			// discovery starts again from the initial size.
			clear(p.probing)
			p.lastTuple = ""
			p.active = tupleRemote(e.Remote)
			p.mtu, p.mtuDone = 0, false
			p.gen++
		} else if len(p.probing) < maxProbingPaths {
			p.probing[e.TupleID] = tupleRemote(e.Remote)
			// quic-go assigns a new path's tuple while it handles the
			// path's first packet, before that packet's frames, and
			// records PacketReceived only after them: a stream frame in
			// that packet (a heartbeat after a NAT rebinding) reaches its
			// reader before PacketReceived says where it came from.
			p.lastTuple = e.TupleID
		}
		p.mu.Unlock()
	case qlog.PacketReceived:
		p.mu.Lock()
		p.lastTuple = e.Tuple
		p.mu.Unlock()
	case qlog.MTUUpdated:
		p.mu.Lock()
		p.mtu, p.mtuDone = e.Value, e.Done
		p.gen++
		if !e.Done && !p.closed {
			gen := p.gen
			if p.settle != nil {
				p.settle.Stop()
			}
			var rtt time.Duration
			if p.rtt != nil {
				rtt = p.rtt()
			}
			p.settle = time.AfterFunc(binding.PathMTUSettle(rtt), func() { p.settled(gen) })
		}
		p.mu.Unlock()
		p.notify()
	}
}

// settled concludes the search whose last result armed the timer of
// generation gen, if nothing came since.
func (p *connPaths) settled(gen uint64) {
	p.mu.Lock()
	if p.closed || p.gen != gen || p.mtuDone || p.mtu == 0 {
		p.mu.Unlock()
		return
	}
	p.mtuDone = true
	p.mu.Unlock()
	p.notify()
}

// Close implements qlogwriter.Recorder: the connection is over, its
// settle timer goes.
func (r pathRecorder) Close() error {
	p := r.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.settle != nil {
		p.settle.Stop()
	}
	return nil
}

// maxProbingPaths bounds the remembered probed paths (quic-go itself
// keeps at most three).
const maxProbingPaths = 8

func tupleRemote(e qlog.TupleEndpointInfo) netip.AddrPort {
	ap := e.IPv4
	if !ap.IsValid() {
		ap = e.IPv6
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// latest returns the address the connection's latest packet came from:
// a path quic-go is still validating, or the active path's address. The
// active address is the one quic-go's last switch reported, read under
// the same lock as the probed paths: a conn.RemoteAddr() read before the
// lock could predate a switch that already cleared the probed path. active
// (what conn.RemoteAddr() said) stands in until a switch is reported.
func (p *connPaths) latest(active netip.AddrPort) netip.AddrPort {
	if p == nil {
		return active
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ap, ok := p.probing[p.lastTuple]; ok && p.lastTuple != "" && ap.IsValid() {
		return ap
	}
	if p.active.IsValid() {
		return p.active
	}
	return active
}

// pathMTU returns what path MTU discovery confirmed on the active path:
// the largest UDP payload acknowledged (0 before the first probe was) and
// whether the search has ended.
func (p *connPaths) pathMTU() (int, bool) {
	if p == nil {
		return 0, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mtu, p.mtuDone
}

// connPathsKey is the context key under which a connection's connPaths
// travel from quic.Transport.ConnContext to the Tracer and the session.
type connPathsKey struct{}

// withConnPaths is the control transport's ConnContext: every accepted
// connection gets a connPaths of its own.
func withConnPaths(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
	return context.WithValue(ctx, connPathsKey{}, newConnPaths()), nil
}

// tracePaths is the control listener's quic.Config.Tracer: the trace of a
// connection is its connPaths.
func tracePaths(ctx context.Context, _ bool, _ quic.ConnectionID) qlogwriter.Trace {
	if p, ok := ctx.Value(connPathsKey{}).(*connPaths); ok {
		return p
	}
	return nil
}

// pathsOf returns the connPaths of an accepted connection, nil if it has
// none, and gives it the connection's RTT for timing its searches.
func pathsOf(conn *quic.Conn) *connPaths {
	p, _ := conn.Context().Value(connPathsKey{}).(*connPaths)
	if p != nil {
		p.mu.Lock()
		p.rtt = func() time.Duration { return conn.ConnectionStats().SmoothedRTT }
		p.mu.Unlock()
	}
	return p
}
