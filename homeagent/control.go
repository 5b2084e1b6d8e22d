package homeagent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/homeagent/lease"
	"github.com/homeip/homeip/pool"
	"github.com/homeip/homeip/store"
)

// QUIC application error codes the home agent closes connections with.
const (
	codeShutdown   quic.ApplicationErrorCode = 0
	codeSuperseded quic.ApplicationErrorCode = 1 // a newer connection of the device registered
	codeRevoked    quic.ApplicationErrorCode = 2
	codeProtocol   quic.ApplicationErrorCode = 3 // unrecoverable framing error
	codeDrained    quic.ApplicationErrorCode = 4
	codeRefused    quic.ApplicationErrorCode = 5 // an unauthenticated request was refused
)

// streamTimeout bounds the wait for the control stream after the
// handshake, and each write.
const streamTimeout = 10 * time.Second

// session is one control connection and its stream.
type session struct {
	conn     *quic.Conn
	stream   *quic.Stream
	ikey     ed25519.PublicKey
	accepted time.Time // monotonic: when the connection was accepted

	// device is the id after a successful Register: written by the
	// connection's goroutine with Server.mu held, read by others with it.
	device string
	// closeCode is the code the connection is closed with when its
	// goroutine ends (set before ending it with endSoon or endWith).
	closeCode atomic.Uint64
	// paths follows the connection's network paths (nil without a
	// tracer, in tests that build a session by hand).
	paths *connPaths
	// Owned by the connection's goroutine.
	anyBU   bool
	scratch binding.BindingAck
	// tat is the rate-limit state of messages that count against no
	// device (heartbeats before a registration).
	tat int64

	// nmu guards notice and grace: the last message other goroutines
	// (revocation, drain) want sent before the connection ends. Only the
	// connection's goroutine writes to the stream, so a peer that stops
	// reading blocks nobody else.
	nmu    sync.Mutex
	notice binding.Message
	grace  time.Duration
	// boundFrom is the address of the last update on this connection that
	// made its path the device's primary one: the WireGuard endpoint, as
	// far as this connection knows.
	boundFrom netip.AddrPort
}

// errEnding: the connection is ending with a notice; no more replies.
var errEnding = errors.New("homeagent: control connection ending")

// endSoon makes the connection's goroutine close the connection with code
// after grace, leaving time for the messages written so far to arrive
// (closing at once would discard them). Only the connection's goroutine
// calls it.
func (ss *session) endSoon(code quic.ApplicationErrorCode, grace time.Duration) {
	ss.closeCode.Store(uint64(code))
	ss.stream.SetReadDeadline(time.Now().Add(grace))
}

// endWith makes the connection's goroutine send m, wait up to grace for it
// to arrive and close the connection with code. It returns at once: a
// write stuck on a peer that does not read is given grace to finish. The
// first notice wins.
func (ss *session) endWith(m binding.Message, code quic.ApplicationErrorCode, grace time.Duration) {
	ss.nmu.Lock()
	defer ss.nmu.Unlock()
	if ss.notice != nil {
		return
	}
	ss.notice, ss.grace = m, grace
	ss.closeCode.Store(uint64(code))
	now := time.Now()
	ss.stream.SetReadDeadline(now)
	ss.stream.SetWriteDeadline(now.Add(grace))
}

// write sends m; only the connection's goroutine calls it.
func (ss *session) write(m binding.Message) error {
	ss.nmu.Lock()
	if ss.notice != nil {
		ss.nmu.Unlock()
		return errEnding
	}
	ss.stream.SetWriteDeadline(time.Now().Add(streamTimeout))
	ss.nmu.Unlock()
	return binding.WriteMessage(ss.stream, m)
}

// sendNotice sends the notice set by endWith, if any, and gives it its
// grace to arrive, reading (and ignoring) what still comes in meanwhile.
// Only the connection's goroutine calls it, as the connection ends.
func (ss *session) sendNotice(r *binding.Reader) {
	ss.nmu.Lock()
	m, grace := ss.notice, ss.grace
	ss.nmu.Unlock()
	if m == nil {
		return
	}
	ss.stream.SetWriteDeadline(time.Now().Add(grace))
	if binding.WriteMessage(ss.stream, m) != nil {
		return
	}
	ss.stream.SetReadDeadline(time.Now().Add(grace))
	for {
		if _, err := r.Next(); err != nil {
			return
		}
	}
}

// remote is the address the connection's packets currently come from: the
// care-of address, observed (NAT-safe). It is read at every use, since
// quic-go switches it after validating a migrated path.
func (ss *session) remote() netip.AddrPort {
	if ua, ok := ss.conn.RemoteAddr().(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// observed is the care-of address of the message being handled: the
// address the connection's latest packet came from, which after a NAT
// rebinding is the new mapping even before quic-go has validated it and
// switched remote() to it.
func (ss *session) observed() netip.AddrPort {
	return ss.paths.latest(ss.remote())
}

func (s *Server) serveConn(ctx context.Context, conn *quic.Conn) {
	ss := &session{conn: conn, accepted: time.Now(), paths: pathsOf(conn)}
	defer func() { conn.CloseWithError(quic.ApplicationErrorCode(ss.closeCode.Load()), "") }()
	key, err := binding.PeerPublicKey(conn.ConnectionState().TLS)
	if err != nil {
		s.refusedLog.Log(slog.LevelInfo, "control connection without identity key", "remote", conn.RemoteAddr().String(), "err", err)
		return
	}
	ss.ikey = key
	sctx, cancel := context.WithTimeout(ctx, streamTimeout)
	stream, err := conn.AcceptStream(sctx)
	cancel()
	if err != nil {
		return
	}
	ss.stream = stream
	if ss.paths != nil {
		stop, followed := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(followed)
			s.followPathMTU(ss, stop)
		}()
		defer func() {
			close(stop)
			<-followed
		}()
		ectx, stopEcho := context.WithCancel(ctx)
		echoed := make(chan struct{})
		go func() {
			defer close(echoed)
			echoSearchDatagrams(ectx, conn, ss.paths)
		}()
		defer func() {
			stopEcho()
			<-echoed
		}()
	}
	s.mu.Lock()
	s.conns[ss] = struct{}{}
	s.mu.Unlock()
	s.m.conns.Add(1)
	defer func() {
		s.m.conns.Add(-1)
		s.mu.Lock()
		delete(s.conns, ss)
		if ss.device != "" && s.sessions[ss.device] == ss {
			delete(s.sessions, ss.device)
		}
		s.mu.Unlock()
	}()

	r := binding.NewReader(stream, 0)
	var (
		enroll binding.Enroll
		reg    binding.Register
		bu     binding.BindingUpdate
		hb     binding.Heartbeat
		dereg  binding.Deregister
	)
	for {
		t, err := r.Next()
		if err != nil && ss.closeCode.Load() != 0 {
			ss.sendNotice(r) // ended by endSoon or endWith
			return
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !isClosed(err) {
				if ss.device == "" {
					s.refusedLog.Log(slog.LevelInfo, "control stream error", "remote", ss.remote(), "err", err)
				} else {
					s.log.Info("control stream error", "remote", ss.remote(), "device", ss.device, "err", err)
				}
				if errors.Is(err, binding.ErrVersion) || errors.Is(err, binding.ErrFrameTooLarge) {
					conn.CloseWithError(codeProtocol, err.Error())
				}
			}
			return
		}
		if ss.closeCode.Load() != 0 {
			continue // ending (endSoon, endWith): nothing more is answered
		}
		var reply binding.Message
		switch t {
		case binding.TypeEnroll:
			if err := r.Decode(&enroll); err != nil {
				reply = &binding.EnrollAck{Status: binding.StatusMalformed}
				break
			}
			reply = s.enroll(ctx, ss, &enroll)
		case binding.TypeRegister:
			if err := r.Decode(&reg); err != nil {
				reply = &binding.RegisterAck{Status: binding.StatusMalformed}
				break
			}
			reply = s.register(ctx, ss, &reg)
		case binding.TypeBindingUpdate:
			if err := r.Decode(&bu); err != nil {
				s.m.updates.With(statusLabel(binding.StatusMalformed)).Inc()
				reply = &binding.BindingAck{Status: binding.StatusMalformed, Observed: ss.observed()}
				break
			}
			reply = s.bindingUpdate(ss, &bu)
		case binding.TypeHeartbeat:
			if err := r.Decode(&hb); err != nil {
				continue // nothing to echo
			}
			if !s.allowHeartbeat(ss) {
				continue // over the limit: no echo
			}
			observed := ss.observed()
			s.followRebinding(ss, observed)
			reply = &binding.HeartbeatAck{Nonce: hb.Nonce, Time: hb.Time, Observed: observed}
		case binding.TypeDeregister:
			if err := r.Decode(&dereg); err != nil {
				reply = &binding.BindingAck{Status: binding.StatusMalformed}
				break
			}
			reply = s.deregister(ss)
		default:
			// Unknown types are skipped (the spec); known types a device
			// must not send (acks, Switch) are ignored.
			continue
		}
		if reply == nil {
			continue
		}
		if err := ss.write(reply); err != nil {
			if errors.Is(err, errEnding) {
				continue // the next read fails and sends the notice
			}
			if !isClosed(err) {
				s.log.Info("control write failed", "device", ss.device, "err", err)
			}
			return
		}
	}
}

func isClosed(err error) bool {
	var appErr *quic.ApplicationError
	var idle *quic.IdleTimeoutError
	return errors.As(err, &appErr) || errors.As(err, &idle) || errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled)
}

// enroll redeems a one-time token for the connection's identity key.
func (s *Server) enroll(ctx context.Context, ss *session, m *binding.Enroll) *binding.EnrollAck {
	status := func(st binding.Status) *binding.EnrollAck {
		s.m.enrolments.With(statusLabel(st)).Inc()
		return &binding.EnrollAck{Status: st}
	}
	if s.isDraining() {
		return status(binding.StatusUnavailable)
	}
	var zero [32]byte
	if m.WGPublicKey == zero {
		return status(binding.StatusMalformed)
	}
	// An unauthenticated request: it costs a read at most, a source that
	// keeps failing is refused before that, the log lines are limited and
	// the connection ends after a refusal (a new attempt costs a new
	// handshake).
	src, now := ss.remote().Addr(), s.now()
	refuse := func(st binding.Status, why string, args ...any) *binding.EnrollAck {
		s.srcLim.fail(src, now)
		s.refusedLog.Log(slog.LevelInfo, "enrolment refused", append([]any{"remote", ss.remote(), "reason", why}, args...)...)
		ss.endSoon(codeRefused, refusalGrace)
		return status(st)
	}
	if s.srcLim.blocked(src, now) {
		s.refusedLog.Log(slog.LevelInfo, "enrolment refused", "remote", ss.remote(), "reason", "too many failures from this source")
		ss.endSoon(codeRefused, refusalGrace)
		return status(binding.StatusRateLimited)
	}
	hash := store.HashToken(string(m.Token[:]))
	tok, err := s.st.Token(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refuse(binding.StatusBadToken, "unknown token")
	case err != nil:
		s.log.Error("enrolment failed", "err", err)
		return status(binding.StatusInternal)
	case !tok.Used.IsZero():
		return refuse(binding.StatusBadToken, "token used", "used", tok.Used)
	case !now.Before(tok.Expires):
		return refuse(binding.StatusBadToken, "token expired", "expired", tok.Expires)
	}
	dev, err := s.st.RedeemToken(ctx, hash, now, store.Enrolment{IdentityKey: []byte(ss.ikey), WGKey: m.WGPublicKey})
	switch {
	case errors.Is(err, store.ErrTokenInvalid):
		return refuse(binding.StatusBadToken, err.Error())
	case errors.Is(err, store.ErrRevoked):
		return refuse(binding.StatusRevoked, "device revoked")
	case errors.Is(err, store.ErrExists):
		return refuse(binding.StatusUnauthorized, "keys belong to another device")
	case errors.Is(err, store.ErrInvalid):
		return status(binding.StatusMalformed)
	case err != nil:
		s.log.Error("enrolment failed", "err", err)
		return status(binding.StatusInternal)
	}
	ds := s.devState(dev.ID)
	ds.mu.Lock()
	old, _ := s.idx.byIDCopy(dev.ID)
	d := s.idx.put(dev)
	if !old.wg.IsZero() && old.wg != d.wg {
		// Re-enrolment with new keys: the old peer and binding go.
		if ev, ok := s.cache.Remove(s.now(), d.id); ok {
			s.applyEventLocked(ds, ev)
		}
		s.clearPendingLocked(ds)
		s.removePeerLocked(ds, old, "re-enrolled")
		if old.static {
			s.static.set(d.id, false)
			s.idx.setStatic(d.id, false)
		}
	}
	var stale []*session
	if old.ikey != "" && old.ikey != d.ikey {
		// The old identity's connections lose their authorisation.
		s.mu.Lock()
		for o := range s.conns {
			if string(o.ikey) == old.ikey {
				stale = append(stale, o)
				if s.sessions[d.id] == o {
					delete(s.sessions, d.id)
				}
			}
		}
		s.mu.Unlock()
	}
	ds.mu.Unlock()
	for _, o := range stale {
		o.conn.CloseWithError(codeSuperseded, "the device was enrolled again with other keys")
	}
	s.m.enrolments.With(statusLabel(binding.StatusAccepted)).Inc()
	s.log.Info("device enrolled", "device", d.name, "id", d.id, "hostname", m.Hostname, "remote", ss.remote())
	return &binding.EnrollAck{Status: binding.StatusAccepted, DeviceID: d.id, DeviceName: d.name}
}

// register authenticates the device by its TLS key, leases its VIPs,
// materialises its peer at the observed address and returns its config.
func (s *Server) register(ctx context.Context, ss *session, m *binding.Register) *binding.RegisterAck {
	status := func(st binding.Status, why string) *binding.RegisterAck {
		s.m.registrations.With(statusLabel(st)).Inc()
		if why != "" {
			s.log.Info("registration refused", "remote", ss.remote(), "status", st.String(), "reason", why)
		}
		return &binding.RegisterAck{Status: st}
	}
	if s.isDraining() {
		return status(binding.StatusUnavailable, "draining")
	}
	d, ok := s.idx.lookupIKey(ss.ikey)
	if !ok {
		// Unauthenticated: counted against the source, logged within
		// limits, and the connection ends.
		src, now := ss.remote().Addr(), s.now()
		st := binding.StatusUnauthorized
		if s.srcLim.blocked(src, now) {
			st = binding.StatusRateLimited
		} else {
			s.srcLim.fail(src, now)
		}
		s.m.registrations.With(statusLabel(st)).Inc()
		s.refusedLog.Log(slog.LevelInfo, "registration refused", "remote", ss.remote(), "status", st.String(), "reason", "identity key not enrolled")
		ss.endSoon(codeRefused, refusalGrace)
		return &binding.RegisterAck{Status: st}
	}
	// Everything from the checks to the session taking over happens under
	// the device lock: a revocation or re-enrolment of the device waits,
	// or has happened before the checks.
	ds := s.devState(d.id)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if !s.limit.Allow(&ds.tat, s.now()) {
		return status(binding.StatusRateLimited, "")
	}
	if why, st := s.mayRegister(d.id, ss, m); why != "" {
		return status(st, why)
	}
	d, _ = s.idx.byIDCopy(d.id)
	leases, err := lease.AssignVIPs(ctx, s.st, s.pool, d.id, s.now())
	switch {
	case errors.Is(err, pool.ErrExhausted):
		return status(binding.StatusNoAddress, err.Error())
	case errors.Is(err, store.ErrRevoked):
		return status(binding.StatusRevoked, err.Error())
	case err != nil:
		s.log.Error("leasing addresses failed", "device", d.name, "err", err)
		return status(binding.StatusInternal, "")
	}
	d, _ = s.idx.setVIPs(d.id, leases)
	observed := ss.observed()
	// A device without a binding gets its peer pointed at the address this
	// registration came from; one with a binding keeps its primary path
	// (the binding update that follows decides about this new path).
	ep := observed
	b, bound := s.cache.Lookup(d.id)
	if bound && b.Primary.IsValid() {
		ep = b.Primary
	}
	if err := s.setPeerLocked(ds, d, ep); err != nil {
		return status(binding.StatusInternal, "")
	}
	// Revocation takes the device lock too, so this finds what a
	// revocation that finished before the checks left; checked again so
	// that no path leaves a revoked device with a peer.
	if why, st := s.mayRegister(d.id, ss, m); why != "" {
		s.removePeerLocked(ds, d, "refused after the peer was set")
		return status(st, why)
	}
	lifetime, st := s.cfg.Lifetime, binding.StatusAccepted
	if m.Lifetime > 0 && m.Lifetime < lifetime {
		lifetime = m.Lifetime
	} else if m.Lifetime > lifetime {
		st = binding.StatusLifetimeShortened
	}
	// The registration keeps the peer for its lifetime even when the
	// binding it found expires meanwhile; a binding that begins after it
	// takes over (EventAdded clears this).
	s.setPendingLocked(ds, s.now().Add(lifetime))

	s.mu.Lock()
	old := s.sessions[d.id]
	s.sessions[d.id] = ss
	ss.device = d.id // written under s.mu: admin calls read it
	s.mu.Unlock()
	if old != nil && old != ss {
		old.conn.CloseWithError(codeSuperseded, "a newer connection of this device registered")
	}

	s.m.registrations.With(statusLabel(st)).Inc()
	s.log.Info("device registered", "device", d.name, "vip4", d.vip4, "vip6", d.vip6, "care_of", observed,
		"software", m.Software, "lifetime", lifetime)
	ack := &binding.RegisterAck{
		Status: st, DeviceID: d.id, VIP4: d.vip4, VIP6: d.vip6,
		HATunnel4: s.cfg.Tunnel4, HATunnel6: s.cfg.Tunnel6,
		HAPublicKey: s.id.WGKey.PublicKey(), Routes: s.cfg.Routes,
		Lifetime: lifetime, Keepalive: s.cfg.Keepalive, MTU: uint16(s.cfg.MTU),
	}
	if !s.cfg.DNSDisabled {
		for _, a := range []netip.Addr{s.cfg.Tunnel4, s.cfg.Tunnel6} {
			if a.IsValid() {
				ack.DNS = append(ack.DNS, a)
			}
		}
		ack.SearchDomain = s.cfg.DNSZone
	}
	return ack
}

// mayRegister says why device id may not register over ss with m ("" if
// it may), from the index as it is now.
func (s *Server) mayRegister(id string, ss *session, m *binding.Register) (string, binding.Status) {
	d, ok := s.idx.byIDCopy(id)
	switch {
	case !ok || d.ikey != string(ss.ikey):
		return "identity key not enrolled", binding.StatusUnauthorized
	case !d.revoked.IsZero():
		return "device " + d.name + " is revoked", binding.StatusRevoked
	case m.DeviceID != "" && m.DeviceID != d.id:
		return "device id does not match the identity key", binding.StatusUnauthorized
	case [32]byte(d.wg) != m.WGPublicKey:
		return "WireGuard key differs from the enrolled one", binding.StatusUnauthorized
	}
	return "", binding.StatusAccepted
}

// bindingUpdate applies an update with the address it was observed from.
// Under the device lock, the binding cache decides and the event it
// returns re-points the peer before the ack is returned to be sent.
func (s *Server) bindingUpdate(ss *session, bu *binding.BindingUpdate) binding.Message {
	start := time.Now()
	if !ss.anyBU {
		// The first update on a connection: the device came over a new
		// path (quic-go makes it open a new connection after a move); the
		// handover started when that connection's first packet arrived.
		start = ss.accepted
	}
	ss.anyBU = true
	observed := ss.observed()
	if ss.device == "" {
		s.m.updates.With(statusLabel(binding.StatusNotRegistered)).Inc()
		return &binding.BindingAck{Status: binding.StatusNotRegistered, Sequence: bu.Sequence, Observed: observed}
	}
	ds := s.devState(ss.device)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if d, ok := s.idx.byIDCopy(ss.device); !ok || !d.revoked.IsZero() {
		s.m.updates.With(statusLabel(binding.StatusRevoked)).Inc()
		return &binding.BindingAck{Status: binding.StatusRevoked, Sequence: bu.Sequence, Observed: observed}
	} else if d.ikey != string(ss.ikey) {
		// Enrolled again with other keys since this session registered.
		s.m.updates.With(statusLabel(binding.StatusUnauthorized)).Inc()
		return &binding.BindingAck{Status: binding.StatusUnauthorized, Sequence: bu.Sequence, Observed: observed}
	} else if d.wg.IsZero() {
		s.m.updates.With(statusLabel(binding.StatusUnknownDevice)).Inc()
		return &binding.BindingAck{Status: binding.StatusUnknownDevice, Sequence: bu.Sequence, Observed: observed}
	}
	before, hadBinding := s.cache.Lookup(ss.device)
	if !s.limit.Allow(&ds.tat, s.now()) {
		s.m.updates.With(statusLabel(binding.StatusRateLimited)).Inc()
		seq := bu.Sequence
		if hadBinding {
			seq = before.Sequence
		}
		return &binding.BindingAck{Status: binding.StatusRateLimited, Sequence: seq, Observed: observed}
	}
	ack := &ss.scratch
	ev, err := s.cache.ApplyInto(ack, s.now(), ss.device, bu, observed)
	if ev.Kind != 0 {
		s.applyEventLocked(ds, ev)
	}
	if !ack.Observed.IsValid() {
		ack.Observed = observed
	}
	s.m.updates.With(statusLabel(ack.Status)).Inc()
	if err != nil {
		s.log.Info("binding update refused", "device", ss.device, "status", ack.Status.String(), "seq", bu.Sequence, "care_of", observed)
		return ack
	}
	s.keeper.mark(ss.device) // its sequence and lifetime, at least
	after, ok := s.cache.Lookup(ss.device)
	if ok && hadBinding && after.Primary != before.Primary {
		s.m.handover.Observe(time.Since(start).Seconds())
	}
	if ok && after.Primary == observed {
		ss.boundFrom = observed
	}
	if ok && (!hadBinding || before.Primary != after.Primary) {
		// A new downlink path: no limit of its own until a search on it
		// concludes; if it is this connection's, its search may have.
		payload, done := 0, false
		if after.Primary == observed {
			payload, done = ss.paths.pathMTU()
		}
		if d, ok := s.idx.byIDCopy(ss.device); ok {
			s.applyDownlinkMTULocked(ds, d, payload, done, true, int(bu.PathMTU))
		}
	}
	if bu.Flags&binding.FlagAck == 0 {
		return nil
	}
	return ack
}

// deregister drops the device's binding at its request.
func (s *Server) deregister(ss *session) binding.Message {
	if ss.device == "" {
		return &binding.BindingAck{Status: binding.StatusNotRegistered, Observed: ss.observed()}
	}
	ds := s.devState(ss.device)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if d, ok := s.idx.byIDCopy(ss.device); !ok || d.ikey != string(ss.ikey) {
		return &binding.BindingAck{Status: binding.StatusUnauthorized, Observed: ss.observed()}
	}
	b, _ := s.cache.Lookup(ss.device)
	if !s.limit.Allow(&ds.tat, s.now()) {
		return &binding.BindingAck{Status: binding.StatusRateLimited, Sequence: b.Sequence, Observed: ss.observed()}
	}
	if ev, ok := s.cache.Remove(s.now(), ss.device); ok {
		s.applyEventLocked(ds, ev)
	} else if d, ok := s.idx.byIDCopy(ss.device); ok && !d.static {
		s.removePeerLocked(ds, d, "deregistered")
	}
	s.clearPendingLocked(ds)
	return &binding.BindingAck{Status: binding.StatusAccepted, Sequence: b.Sequence, Observed: ss.observed()}
}

// followRebinding re-points the device's WireGuard peer when a heartbeat
// on its current connection arrives from another address than the one
// its primary path was bound from: the NAT in front of the device gave it
// a new mapping (conntrack flushed, mapping timed out) and the old one is
// dead. The heartbeat is authenticated (QUIC 1-RTT keys) and newer than
// anything on the old mapping, as WireGuard's own roaming would accept
// it; but a receive-only device sends WireGuard nothing that could make
// WireGuard roam, so the home agent follows the control path at once
// instead of waiting one more round trip for the binding update the
// device sends when the acknowledgement shows it the new address. That
// update then moves the binding (and re-points the peer again, to the
// same address).
func (s *Server) followRebinding(ss *session, observed netip.AddrPort) {
	if ss.device == "" || !observed.IsValid() || !ss.boundFrom.IsValid() || observed == ss.boundFrom {
		return
	}
	ds := s.devState(ss.device)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	s.mu.Lock()
	current := s.sessions[ss.device] == ss
	s.mu.Unlock()
	if !current {
		return
	}
	b, ok := s.cache.Lookup(ss.device)
	if !ok || b.Primary != ss.boundFrom {
		return // another path is primary now: not this connection's business
	}
	d, ok := s.idx.byIDCopy(ss.device)
	if !ok || !d.revoked.IsZero() || d.ikey != string(ss.ikey) || ds.peer != d.wg {
		return
	}
	if err := s.dp.SetEndpoint(d.wg, observed); err != nil {
		s.log.Warn("re-pointing peer after NAT rebinding failed", "device", d.name, "err", err)
		return
	}
	s.log.Info("device's NAT mapping changed; peer re-pointed", "device", d.name, "from", ss.boundFrom, "to", observed)
	ss.boundFrom = observed
}

// allowHeartbeat counts a heartbeat against the device's budget, or the
// connection's before a registration.
func (s *Server) allowHeartbeat(ss *session) bool {
	if ss.device == "" {
		return s.limit.Allow(&ss.tat, s.now())
	}
	ds := s.devState(ss.device)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return s.limit.Allow(&ds.tat, s.now())
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// closeAllSessions closes every control connection.
func (s *Server) closeAllSessions(code quic.ApplicationErrorCode, msg string) {
	s.mu.Lock()
	var all []*session
	for ss := range s.conns {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.conn.CloseWithError(code, msg)
	}
}
