package handoverbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/streamprobe"
)

// StreamSpec describes a probe stream between cn and the mobile node. The
// node always dials cn (it may sit behind NAT); which end sends is
// independent of that. The zero value (plus Network) is usable.
type StreamSpec struct {
	// Network is "tcp4" or "tcp6".
	Network string
	// Source is the address the node's end binds to, normally its VIP;
	// the zero Addr lets the kernel choose (the no-tunnel path).
	Source netip.Addr
	// NodeSends makes the node the sender; by default it only receives.
	NodeSends bool
	// Interval between records; default 5 ms.
	Interval time.Duration
	// RecordSize in bytes; default 256.
	RecordSize int
	// Bulk makes the stream a bulk transfer: records of BulkRecordSize
	// every 100 µs (unless Interval or RecordSize say otherwise), so the
	// sender's writes block on the network and the stream runs as fast
	// as the path allows, in full-size segments. The sender's socket
	// buffer is limited to BulkSendBuffer, so that what is queued when
	// the stream stops drains within seconds on a slow path.
	Bulk bool
	// GapThreshold: pauses in delivery longer than this are reported;
	// default 3 × Interval, at least 5 ms.
	GapThreshold time.Duration
	// IdleTimeout: an end that makes no progress this long gives up
	// (streamprobe.ErrStalled); default 20 s.
	IdleTimeout time.Duration
	// DialTimeout bounds setting the connection up, retries included;
	// default 15 s.
	DialTimeout time.Duration
	// Progress, if set, receives the receiving end's progress every
	// ProgressInterval (default 1 s).
	Progress         func(streamprobe.Progress)
	ProgressInterval time.Duration
}

func (s StreamSpec) withDefaults() (StreamSpec, error) {
	if s.Network != "tcp4" && s.Network != "tcp6" {
		return s, fmt.Errorf("handoverbench: stream network %q, want tcp4 or tcp6", s.Network)
	}
	if s.Source.IsValid() && s.Source.Is4() != (s.Network == "tcp4") {
		return s, fmt.Errorf("handoverbench: source %v does not match %s", s.Source, s.Network)
	}
	if s.Bulk && s.Interval == 0 {
		s.Interval = 100 * time.Microsecond
	}
	if s.Bulk && s.RecordSize == 0 {
		s.RecordSize = BulkRecordSize
	}
	if s.Interval == 0 {
		s.Interval = 5 * time.Millisecond
	}
	if s.GapThreshold == 0 {
		s.GapThreshold = max(3*s.Interval, 5*time.Millisecond)
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = 20 * time.Second
	}
	if s.DialTimeout == 0 {
		s.DialTimeout = 15 * time.Second
	}
	return s, nil
}

// Bulk transfer sizes (StreamSpec.Bulk).
const (
	BulkRecordSize = 32 << 10
	BulkSendBuffer = 256 << 10
)

// ErrStreamEnded is returned by Stream.WaitFlowing when the stream ended
// (failed) before data flowed as asked.
var ErrStreamEnded = errors.New("handoverbench: stream ended")

// Stream is a running probe stream between cn and the mobile node. Its
// methods are safe for concurrent use. Stop or Abort must be called.
type Stream struct {
	spec StreamSpec
	// NodeAddr is the node's end of the connection as the node sees it
	// (its VIP when Source is set); PeerSeen is how cn sees the node.
	NodeAddr, PeerSeen netip.AddrPort

	nodeConn, cnConn net.Conn
	watch            *watchConn
	sender           *gentleConn
	sendCancel       context.CancelFunc
	recvCancel       context.CancelFunc
	recvDone         chan struct{}
	wg               sync.WaitGroup

	res       StreamResult // written by the two ends before wg is done
	closeOnce sync.Once
}

// StreamResult is what both ends of a stream reported.
type StreamResult struct {
	Send, Recv       *streamprobe.Report
	SendErr, RecvErr error
}

// StartStream connects the node to cn as spec says (retrying while the
// path comes up, for at most spec.DialTimeout) and starts both ends. The
// streams' goroutines run until Stop or Abort; ctx only bounds the setup.
func StartStream(ctx context.Context, lab *netlab.Lab, spec StreamSpec) (*Stream, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return nil, err
	}
	cnAddr := netlab.CN4
	if spec.Network == "tcp6" {
		cnAddr = netlab.CN6
	}
	ln, err := lab.CN.Listen(ctx, spec.Network, netip.AddrPortFrom(cnAddr, 0).String())
	if err != nil {
		return nil, fmt.Errorf("handoverbench: listening in cn: %w", err)
	}
	defer ln.Close()
	dctx, cancel := context.WithTimeout(ctx, spec.DialTimeout)
	defer cancel()
	nodeConn, cnConn, err := connect(dctx, lab, spec, ln)
	if err != nil {
		return nil, err
	}
	s := &Stream{
		spec:     spec,
		NodeAddr: addrPort(nodeConn.LocalAddr()),
		PeerSeen: addrPort(cnConn.RemoteAddr()),
		nodeConn: nodeConn, cnConn: cnConn,
		recvDone: make(chan struct{}),
	}
	base := streamprobe.Config{
		Interval: spec.Interval, RecordSize: spec.RecordSize,
		GapThreshold: spec.GapThreshold, IdleTimeout: spec.IdleTimeout,
	}
	sendConn, recvConn := cnConn, nodeConn
	if spec.NodeSends {
		sendConn, recvConn = nodeConn, cnConn
	}
	if tc, ok := sendConn.(*net.TCPConn); ok && spec.Bulk {
		if err := tc.SetWriteBuffer(BulkSendBuffer); err != nil {
			nodeConn.Close()
			cnConn.Close()
			return nil, fmt.Errorf("handoverbench: sender's socket buffer: %w", err)
		}
	}
	s.watch = &watchConn{Conn: recvConn}
	s.sender = &gentleConn{Conn: sendConn}
	rcfg := base
	rcfg.Progress, rcfg.ProgressInterval = spec.Progress, spec.ProgressInterval
	sendCtx, sendCancel := context.WithCancel(context.Background())
	recvCtx, recvCancel := context.WithCancel(context.Background())
	s.sendCancel, s.recvCancel = sendCancel, recvCancel
	s.wg.Go(func() { s.res.Send, s.res.SendErr = streamprobe.Send(sendCtx, s.sender, base) })
	s.wg.Go(func() {
		defer close(s.recvDone)
		s.res.Recv, s.res.RecvErr = streamprobe.Receive(recvCtx, s.watch, rcfg)
	})
	return s, nil
}

// nonceLen is the size of the token the node writes first, so cn accepts
// exactly the connection of this attempt and not a late one of an
// earlier, abandoned attempt.
const nonceLen = 16

// connect dials cn from the node until it works, and returns both ends.
func connect(ctx context.Context, lab *netlab.Lab, spec StreamSpec, ln net.Listener) (node, cn net.Conn, err error) {
	var lastErr error
	for {
		node, cn, err := connectOnce(ctx, lab, spec, ln)
		if err == nil {
			return node, cn, nil
		}
		lastErr = err
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("handoverbench: node connecting to cn over %s: %w (last attempt: %w)", spec.Network, ctx.Err(), lastErr)
		case <-t.C:
		}
	}
}

func connectOnce(ctx context.Context, lab *netlab.Lab, spec StreamSpec, ln net.Listener) (node, cn net.Conn, err error) {
	nonce := make([]byte, nonceLen)
	_, _ = rand.Read(nonce)
	actx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err = lab.MN.Do(func() error {
		d := net.Dialer{}
		if spec.Source.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: spec.Source.AsSlice()}
		}
		var err error
		node, err = d.DialContext(actx, spec.Network, ln.Addr().String())
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	_ = node.SetWriteDeadline(time.Now().Add(3 * time.Second))
	if _, err := node.Write(nonce); err != nil {
		node.Close()
		return nil, nil, err
	}
	_ = node.SetWriteDeadline(time.Time{})
	// Accept until this attempt's connection shows up.
	stop := context.AfterFunc(actx, func() { _ = ln.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now()) })
	defer stop()
	defer func() { _ = ln.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Time{}) }()
	for {
		c, err := ln.Accept()
		if err != nil {
			node.Close()
			return nil, nil, fmt.Errorf("accepting in cn: %w", err)
		}
		got := make([]byte, nonceLen)
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, nonce) {
			c.Close()
			continue
		}
		_ = c.SetReadDeadline(time.Time{})
		return node, c, nil
	}
}

// WaitFlowing waits until records have arrived without a pause longer
// than the gap threshold (but at least 4 intervals) for hold, counting
// only arrivals after since. It fails with ErrStreamEnded if the stream
// ends first, or with ctx's error.
func (s *Stream) WaitFlowing(ctx context.Context, since time.Time, hold time.Duration) error {
	limit := max(s.spec.GapThreshold, 4*s.spec.Interval)
	tick := time.NewTicker(max(s.spec.Interval/2, time.Millisecond))
	defer tick.Stop()
	var runStart time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.recvDone:
			return fmt.Errorf("%w: %w", ErrStreamEnded, s.res.RecvErr)
		case now := <-tick.C:
			last := s.watch.last()
			flowing := last.After(since) && now.Sub(last) <= limit
			switch {
			case !flowing:
				runStart = time.Time{}
			case runStart.IsZero():
				runStart = last
			case now.Sub(runStart) >= hold:
				return nil
			}
		}
	}
}

// Ended is closed once the receiving end has finished (after Stop or
// Abort, or when the stream failed).
func (s *Stream) Ended() <-chan struct{} { return s.recvDone }

// LastArrival returns when data last reached the receiving end.
func (s *Stream) LastArrival() time.Time { return s.watch.last() }

// ResetMaxPause starts a new measurement of MaxPause.
func (s *Stream) ResetMaxPause() {
	s.watch.mu.Lock()
	s.watch.maxPause = 0
	s.watch.mu.Unlock()
}

// MaxPause returns the longest pause between two reads of the receiving
// end that ended since the last ResetMaxPause: a live estimate of a
// gap, which the final report measures per record.
func (s *Stream) MaxPause() time.Duration {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	return s.watch.maxPause
}

// Received returns the bytes the receiving end has read so far.
func (s *Stream) Received() uint64 { return s.watch.bytes() }

// Stop ends the stream cleanly: the sender finishes the record it is
// writing (a bulk sender is nearly always blocked in one), stops and
// sends its end record, and the receiver checks it. If the receiver has
// not finished after grace, both ends are interrupted (the result then
// shows the stream incomplete). Stop returns both ends' reports; calling
// it again returns the same.
func (s *Stream) Stop(grace time.Duration) StreamResult {
	s.closeOnce.Do(func() {
		s.sender.gentle.Store(true)
		s.sendCancel()
		t := time.NewTimer(grace)
		select {
		case <-s.recvDone:
		case <-t.C:
		}
		t.Stop()
		_ = s.sender.Conn.SetWriteDeadline(time.Unix(1, 0))
		s.recvCancel()
		s.wg.Wait()
		s.nodeConn.Close()
		s.cnConn.Close()
	})
	return s.res
}

// Abort stops both ends at once and closes the connection.
func (s *Stream) Abort() StreamResult {
	s.closeOnce.Do(func() {
		s.sendCancel()
		s.recvCancel()
		s.nodeConn.Close()
		s.cnConn.Close()
		s.wg.Wait()
	})
	return s.res
}

// Err returns nil when the stream came through intact: neither end
// failed or saw a reset, the receiver got the end record, and bytes,
// records and SHA-256 are equal on both sides. Otherwise it says what
// went wrong.
func (r StreamResult) Err() error {
	var errs []error
	if r.Send == nil || r.Recv == nil {
		return errors.New("handoverbench: stream has no report from both ends")
	}
	if r.SendErr != nil {
		errs = append(errs, fmt.Errorf("sender: %w", r.SendErr))
	}
	if r.RecvErr != nil {
		errs = append(errs, fmt.Errorf("receiver: %w", r.RecvErr))
	}
	if n := r.Send.Resets + r.Recv.Resets; n > 0 {
		errs = append(errs, fmt.Errorf("%d connection reset(s)", n))
	}
	if !r.Recv.Complete || !r.Recv.Verified {
		errs = append(errs, fmt.Errorf("receiver complete=%v verified=%v", r.Recv.Complete, r.Recv.Verified))
	}
	if r.Send.SHA256 != r.Recv.SHA256 || r.Send.Bytes != r.Recv.Bytes {
		errs = append(errs, fmt.Errorf("sent %d bytes sha256 %s, received %d bytes sha256 %s",
			r.Send.Bytes, r.Send.SHA256, r.Recv.Bytes, r.Recv.SHA256))
	}
	if r.Recv.Missing+r.Recv.Corrupt > 0 {
		errs = append(errs, fmt.Errorf("%d missing, %d corrupt records", r.Recv.Missing, r.Recv.Corrupt))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("handoverbench: stream broken: %w", errors.Join(errs...))
}

// GapAfter returns the longest delivery pause (milliseconds) at the
// receiver that began in [from, to], and whether the stream never resumed
// after a pause that began there (an open gap). ok is false when no
// pause above the threshold began in the interval.
func (r StreamResult) GapAfter(from, to time.Time) (ms float64, open, ok bool) {
	if r.Recv == nil {
		return 0, false, false
	}
	for _, g := range r.Recv.Gaps {
		if g.Start.Before(from) || g.Start.After(to) {
			continue
		}
		ok = true
		if g.Open {
			open = true
		}
		ms = max(ms, g.DurationMS)
	}
	return ms, open, ok
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// gentleConn is the sender's connection. Once gentle is set (by Stop),
// it ignores write deadlines in the past, with which streamprobe.Send
// interrupts a blocked write when its context ends: the record being
// written completes, so the sender stops between two records and can
// send its end record. Stop sets the deadline on the connection itself
// if the receiver does not finish in time.
type gentleConn struct {
	net.Conn
	gentle atomic.Bool
}

func (c *gentleConn) SetWriteDeadline(t time.Time) error {
	if c.gentle.Load() && !t.IsZero() && t.Before(time.Now()) {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *gentleConn) SetDeadline(t time.Time) error {
	if c.gentle.Load() && !t.IsZero() && t.Before(time.Now()) {
		return c.Conn.SetReadDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

// watchConn records when data last arrived, how much, and the longest
// pause between arrivals since the last ResetMaxPause.
type watchConn struct {
	net.Conn
	mu       sync.Mutex // guards the fields below
	lastAt   time.Time
	n        uint64
	maxPause time.Duration
}

func (c *watchConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		now := time.Now()
		c.mu.Lock()
		if !c.lastAt.IsZero() {
			c.maxPause = max(c.maxPause, now.Sub(c.lastAt))
		}
		c.lastAt = now
		c.n += uint64(n)
		c.mu.Unlock()
	}
	return n, err
}

func (c *watchConn) last() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastAt
}

func (c *watchConn) bytes() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
