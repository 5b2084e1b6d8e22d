package homeagent

import (
	"context"
	"net/netip"
	"sync"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
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
	mtu       int                       // largest UDP payload confirmed on the active path, 0 = none yet
	mtuDone   bool                      // the search on the active path has ended
}

var _ qlogwriter.Trace = (*connPaths)(nil)

func newConnPaths() *connPaths { return &connPaths{probing: map[string]netip.AddrPort{}} }

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
			p.mtu, p.mtuDone = 0, false
		} else if len(p.probing) < maxProbingPaths {
			p.probing[e.TupleID] = tupleRemote(e.Remote)
		}
		p.mu.Unlock()
	case qlog.PacketReceived:
		p.mu.Lock()
		p.lastTuple = e.Tuple
		p.mu.Unlock()
	case qlog.MTUUpdated:
		p.mu.Lock()
		p.mtu, p.mtuDone = e.Value, e.Done
		p.mu.Unlock()
	}
}

// Close implements qlogwriter.Recorder; there is nothing to flush.
func (pathRecorder) Close() error { return nil }

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
// a path quic-go is still validating, or active, the active path's
// address (what conn.RemoteAddr() says).
func (p *connPaths) latest(active netip.AddrPort) netip.AddrPort {
	if p == nil {
		return active
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ap, ok := p.probing[p.lastTuple]; ok && p.lastTuple != "" && ap.IsValid() {
		return ap
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
// none.
func pathsOf(conn *quic.Conn) *connPaths {
	p, _ := conn.Context().Value(connPathsKey{}).(*connPaths)
	return p
}
