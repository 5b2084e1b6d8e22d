package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"

	"github.com/homeip/homeip/binding"
)

// quicConfig is the QUIC configuration of every control connection. The
// node sends its own heartbeats at the learned keepalive interval, so
// QUIC's keepalive is off and its idle timeout sits above the longest
// keepalive interval. Packets start at binding.InitialPacketSize, which
// fits a 1280-byte link, IPv4 or IPv6; path MTU discovery stays on.
func quicConfig(idle time.Duration) *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout: 5 * time.Second,
		MaxIdleTimeout:       idle,
		KeepAlivePeriod:      0,
		InitialPacketSize:    binding.InitialPacketSize,
		// Most keepalives are QUIC datagrams (runner.sendKeepalive), and
		// so is the path MTU search assist (mtuassist.go).
		EnableDatagrams: true,
	}
}

// session is one control connection to a home agent: a QUIC connection
// and its one bidirectional control stream. Requests are written under
// wmu; a reader goroutine (owned by the session, stopped by Close)
// dispatches every incoming message. The home agent answers requests in
// order, so acknowledgements are matched to requests first in, first out;
// heartbeat acknowledgements are matched by nonce.
type session struct {
	conn   *quic.Conn // nil only in tests that drive a bare stream
	stream controlStream
	remote netip.AddrPort
	log    *slog.Logger

	wmu sync.Mutex // serialises frame writes

	mtu       chan mtuUpdate // path MTU discovery results, latest first (see mtuTrace)
	enrollAck chan *binding.EnrollAck
	regAck    chan *binding.RegisterAck
	bindAck   chan *binding.BindingAck
	events    chan binding.Message // Switch and Deregister from the home agent

	mu       sync.Mutex
	hbWait   map[uint64]chan *binding.HeartbeatAck
	err      error // why the session ended
	done     chan struct{}
	closed   bool
	readDone chan struct{}
	// assistDone is closed when the path MTU search assist has stopped;
	// nil for a session without one (tests on a bare stream).
	assistDone chan struct{}
}

// controlStream is the part of a *quic.Stream the session uses.
type controlStream interface {
	io.Reader
	io.Writer
	Close() error
}

// dialSession opens a control connection to addr over tr and its control
// stream.
func dialSession(ctx context.Context, tr *quic.Transport, addr netip.AddrPort, tlsConf *tls.Config, qconf *quic.Config, log *slog.Logger) (*session, error) {
	trace := &mtuTrace{ch: make(chan mtuUpdate, 1), concluded: make(chan struct{})}
	qconf = qconf.Clone()
	qconf.Tracer = func(context.Context, bool, quic.ConnectionID) qlogwriter.Trace { return trace }
	conn, err := tr.Dial(ctx, net.UDPAddrFromAddrPort(addr), tlsConf, qconf)
	if err != nil {
		if errors.Is(err, binding.ErrFingerprintMismatch) {
			return nil, fmt.Errorf("%w: %s: %w", ErrFingerprintMismatch, addr, err)
		}
		return nil, fmt.Errorf("client: connecting to home agent %s: %w", addr, err)
	}
	stream, err := conn.OpenStreamSync(ctx)
	if err != nil {
		conn.CloseWithError(0, "")
		return nil, fmt.Errorf("client: opening control stream to %s: %w", addr, err)
	}
	s := newSession(conn, stream, addr, log)
	s.mtu = trace.ch
	trace.mu.Lock()
	trace.rtt = s.RTT
	trace.mu.Unlock()
	go s.readLoop()
	s.assistDone = make(chan struct{})
	go s.runSearchAssist(trace.concluded)
	return s, nil
}

// mtuUpdate is one result of QUIC's path MTU discovery on a connection:
// the largest UDP payload confirmed so far, and whether the search ended.
type mtuUpdate struct {
	payload int
	done    bool
}

// mtuTrace is a control connection's qlog trace (quic.Config.Tracer), of
// which it keeps only the path MTU discovery results (qlog.MTUUpdated):
// the latest one waits in ch for the node's loop, older ones unread are
// replaced. quic-go reports a search's end (Done) only when an
// acknowledged probe ends it; one that ends with lost probes just stops.
// So a search that stayed quiet for binding.PathMTUSettle of the
// connection's RTT after its last result counts as concluded at that
// result; a later, larger one raises it
// again (PathMTU). The settle timer belongs to the trace and stops with
// the connection (Close).
type mtuTrace struct {
	ch          chan mtuUpdate
	settleAfter time.Duration // 0: binding.PathMTUSettle(rtt())
	concluded   chan struct{} // closed at the first concluded result; nil: not wanted

	mu     sync.Mutex
	rtt    func() time.Duration // the connection's smoothed RTT once it exists; nil before
	settle *time.Timer
	gen    uint64 // invalidates a timer armed for an earlier result
	closed bool
	ended  bool // concluded was closed, guarded by mu
}

// AddProducer implements qlogwriter.Trace.
func (t *mtuTrace) AddProducer() qlogwriter.Recorder { return t }

// RecordEvent implements qlogwriter.Recorder.
func (t *mtuTrace) RecordEvent(ev qlogwriter.Event) {
	e, ok := ev.(qlog.MTUUpdated)
	if !ok {
		return
	}
	t.mu.Lock()
	t.gen++
	if !e.Done && !t.closed {
		gen, u := t.gen, mtuUpdate{payload: e.Value, done: true}
		if t.settle != nil {
			t.settle.Stop()
		}
		after := t.settleAfter
		if after <= 0 {
			var rtt time.Duration
			if t.rtt != nil {
				rtt = t.rtt()
			}
			after = binding.PathMTUSettle(rtt)
		}
		t.settle = time.AfterFunc(after, func() {
			t.mu.Lock()
			current := !t.closed && t.gen == gen
			t.mu.Unlock()
			if current {
				t.put(u)
			}
		})
	}
	t.mu.Unlock()
	t.put(mtuUpdate{payload: e.Value, done: e.Done})
}

// put hands u to the loop, replacing a result it has not read yet; a
// concluded result also ends the search assist.
func (t *mtuTrace) put(u mtuUpdate) {
	if u.done && t.concluded != nil {
		t.mu.Lock()
		if !t.ended {
			t.ended = true
			close(t.concluded)
		}
		t.mu.Unlock()
	}
	for {
		select {
		case t.ch <- u:
			return
		default:
		}
		select {
		case <-t.ch: // an older result nobody read yet
		default:
		}
	}
}

// Close implements qlogwriter.Recorder: the connection is over, its
// settle timer goes.
func (t *mtuTrace) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.settle != nil {
		t.settle.Stop()
	}
	return nil
}

// MTUUpdates delivers the connection's path MTU discovery results, the
// latest one only (nil for a session without a connection).
func (s *session) MTUUpdates() <-chan mtuUpdate { return s.mtu }

// newSession returns a session on stream; the caller starts readLoop.
func newSession(conn *quic.Conn, stream controlStream, addr netip.AddrPort, log *slog.Logger) *session {
	return &session{
		conn:      conn,
		stream:    stream,
		remote:    addr,
		log:       log,
		enrollAck: make(chan *binding.EnrollAck, 1),
		regAck:    make(chan *binding.RegisterAck, 1),
		bindAck:   make(chan *binding.BindingAck, 8),
		events:    make(chan binding.Message, 4),
		hbWait:    map[uint64]chan *binding.HeartbeatAck{},
		done:      make(chan struct{}),
		readDone:  make(chan struct{}),
	}
}

// readLoop reads messages until the stream ends.
func (s *session) readLoop() {
	defer close(s.readDone)
	r := binding.NewReader(s.stream, 0)
	for {
		m, err := r.ReadMessage()
		if errors.Is(err, binding.ErrUnknownType) {
			s.log.Debug("skipping unknown control message", "err", err)
			continue
		}
		if err != nil {
			s.fail(fmt.Errorf("client: control stream from %s: %w", s.remote, err))
			return
		}
		switch m := m.(type) {
		case *binding.EnrollAck:
			deliver(s.enrollAck, m)
		case *binding.RegisterAck:
			deliver(s.regAck, m)
		case *binding.BindingAck:
			deliver(s.bindAck, m)
		case *binding.HeartbeatAck:
			s.mu.Lock()
			ch := s.hbWait[m.Nonce]
			delete(s.hbWait, m.Nonce)
			s.mu.Unlock()
			if ch != nil {
				ch <- m // buffered, one per nonce
			}
		case *binding.Heartbeat:
			// The home agent probes us: echo it.
			if err := s.write(&binding.HeartbeatAck{Nonce: m.Nonce, Time: m.Time}); err != nil {
				s.fail(err)
				return
			}
		case *binding.Switch, *binding.Deregister:
			select {
			case s.events <- m:
			default:
				s.log.Warn("dropping home agent message: node not reading events", "type", m.Type())
			}
		default:
			s.log.Warn("unexpected control message from home agent", "type", m.Type())
		}
	}
}

// deliver hands an ack to its waiter without blocking the reader: an ack
// nobody waits for (its request timed out) is dropped.
func deliver[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// fail ends the session with err (the first error wins).
func (s *session) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		close(s.done)
	}
}

// Done is closed when the session ended; Err then says why.
func (s *session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it is alive.
func (s *session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Events delivers Switch and Deregister messages from the home agent.
func (s *session) Events() <-chan binding.Message { return s.events }

// Remote returns the home agent address this session is connected to.
func (s *session) Remote() netip.AddrPort { return s.remote }

// RTT returns QUIC's smoothed RTT estimate of the connection.
func (s *session) RTT() time.Duration {
	if s.conn == nil {
		return 0
	}
	return s.conn.ConnectionStats().SmoothedRTT
}

func (s *session) write(m binding.Message) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := binding.WriteMessage(s.stream, m); err != nil {
		return fmt.Errorf("client: sending %v to %s: %w", m.Type(), s.remote, err)
	}
	return nil
}

// writeAll writes several frames in one stream write, so that they leave
// in as few packets as possible (Register and BindingUpdate on a move).
func (s *session) writeAll(ms ...binding.Message) error {
	var b []byte
	for _, m := range ms {
		var err error
		if b, err = binding.AppendFrame(b, m); err != nil {
			return fmt.Errorf("client: encoding %v: %w", m.Type(), err)
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.stream.Write(b); err != nil {
		return fmt.Errorf("client: sending to %s: %w", s.remote, err)
	}
	return nil
}

// await waits for a value on ch, the end of the session or of ctx.
func await[T any](ctx context.Context, s *session, ch chan T, what string) (T, error) {
	var zero T
	select {
	case v := <-ch:
		return v, nil
	case <-s.done:
		// An ack may have raced the end of the stream.
		select {
		case v := <-ch:
			return v, nil
		default:
		}
		return zero, fmt.Errorf("client: waiting for %s: %w", what, s.Err())
	case <-ctx.Done():
		return zero, fmt.Errorf("client: waiting for %s from %s: %w", what, s.remote, ctx.Err())
	}
}

// Enroll redeems a token on this session.
func (s *session) Enroll(ctx context.Context, m *binding.Enroll) (*binding.EnrollAck, error) {
	if err := s.write(m); err != nil {
		return nil, err
	}
	return await(ctx, s, s.enrollAck, "EnrollAck")
}

// Register registers on this session and, if bu is not nil, sends it right
// behind the Register in the same write (one round trip for both).
func (s *session) Register(ctx context.Context, reg *binding.Register, bu *binding.BindingUpdate) (*binding.RegisterAck, *binding.BindingAck, error) {
	msgs := []binding.Message{reg}
	if bu != nil {
		msgs = append(msgs, bu)
	}
	if err := s.writeAll(msgs...); err != nil {
		return nil, nil, err
	}
	ra, err := await(ctx, s, s.regAck, "RegisterAck")
	if err != nil || bu == nil {
		return ra, nil, err
	}
	if !ra.Status.OK() {
		// The home agent refuses binding updates on an unregistered
		// connection; its answer to bu, if any, is not interesting.
		return ra, nil, nil
	}
	ba, err := await(ctx, s, s.bindAck, "BindingAck")
	return ra, ba, err
}

// Bind sends a binding update and waits for its acknowledgement.
func (s *session) Bind(ctx context.Context, bu *binding.BindingUpdate) (*binding.BindingAck, error) {
	// Forget acks of earlier updates whose waiters gave up.
	for len(s.bindAck) > 0 {
		<-s.bindAck
	}
	if err := s.write(bu); err != nil {
		return nil, err
	}
	return await(ctx, s, s.bindAck, "BindingAck")
}

// Heartbeat probes the path and returns the round-trip time and the
// address the home agent observed.
func (s *session) Heartbeat(ctx context.Context) (time.Duration, netip.AddrPort, error) {
	var nb [8]byte
	rand.Read(nb[:])
	nonce := binary.LittleEndian.Uint64(nb[:])
	ch := make(chan *binding.HeartbeatAck, 1)
	s.mu.Lock()
	s.hbWait[nonce] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.hbWait, nonce)
		s.mu.Unlock()
	}()
	start := time.Now()
	if err := s.write(&binding.Heartbeat{Nonce: nonce, Time: start.UnixNano()}); err != nil {
		return 0, netip.AddrPort{}, err
	}
	ack, err := await(ctx, s, ch, "HeartbeatAck")
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	return time.Since(start), ack.Observed, nil
}

// Deregister tells the home agent the device is leaving and waits (within
// ctx) for its acknowledgement.
func (s *session) Deregister(ctx context.Context) error {
	if err := s.write(&binding.Deregister{Status: binding.StatusAccepted, Reason: "mnode down"}); err != nil {
		return err
	}
	_, err := await(ctx, s, s.bindAck, "BindingAck for Deregister")
	return err
}

// Close closes the connection and waits for the reader. Idempotent.
func (s *session) Close() error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if !already {
		s.stream.Close()
		if s.conn != nil {
			s.conn.CloseWithError(0, "closing")
		}
		s.fail(fmt.Errorf("client: session to %s: %w", s.remote, net.ErrClosed))
	}
	<-s.readDone
	if s.assistDone != nil {
		<-s.assistDone
	}
	return nil
}
