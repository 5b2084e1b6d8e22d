package client

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/tunnel"
)

// runner is the state of one Run: everything here is owned by the Run
// goroutine and needs no lock; what others may see is copied into
// Node.status.
type runner struct {
	n   *Node
	cfg Config
	log *slog.Logger
	ctx context.Context

	unlock  func()
	id      ed25519.PrivateKey
	st      Persisted
	tlsConf *tls.Config
	wgPub   WGKey
	dp      DataPlane
	tr      *quic.Transport
	sess    *session
	peerKey tunnel.Key // home agent WireGuard key configured, zero = none
	tunCfg  *TunnelConfig

	net     State
	primary Link // current primary link (valid when hasLink)
	standby Link
	hasLink bool
	hasStby bool
	suspect map[int]time.Time // link index -> avoid until

	learner *liveKeepalive
	// keepalives counts keepalive intervals (sendKeepalive).
	keepalives int
	pmtu       *PathMTU
	stall      *StallDetector // nil when Config.Stall.Disable
	// activity is the data plane's traffic signal (nil: none);
	// waitActivity says the loop waits on it for the next stall sample.
	activity     <-chan struct{}
	waitActivity bool
	backoff      Backoff
	observed     netip.AddrPort // care-of address the home agent saw last
	lastSent     time.Time      // last control message sent (keepalive gap)
	granted      time.Duration
	rtt          time.Duration
	fatal        error // set when the node must stop (revoked)

	// timers, all owned by the loop
	hb, refresh, reconnect, debounce, unsuspect, stallT *time.Timer
	changeAt                                            time.Time // first event of a pending burst
}

func (n *Node) newRunner(ctx context.Context) (*runner, error) {
	cfg := n.cfg
	r := &runner{n: n, cfg: cfg, log: n.log, ctx: ctx, suspect: map[int]time.Time{}, backoff: cfg.Backoff}
	st, err := cfg.StateDir.Load()
	if err != nil {
		return nil, err
	}
	r.st = st
	id, err := cfg.StateDir.IdentityKey(false)
	if err != nil {
		return nil, err
	}
	wgPriv, err := cfg.StateDir.WireGuardKey(false)
	if err != nil {
		return nil, err
	}
	if r.wgPub, err = wgPriv.PublicKey(); err != nil {
		return nil, err
	}
	r.id = id
	if r.tlsConf, err = clientTLS(id, st.HomeAgent.Fingerprint); err != nil {
		return nil, err
	}
	if r.unlock, err = cfg.StateDir.Lock(); err != nil {
		return nil, err
	}
	mtu := 0
	if st.Config != nil {
		mtu = st.Config.MTU
	}
	dp, err := cfg.NewDataPlane(DataPlaneConfig{PrivateKey: tunnel.Key(wgPriv), ListenPort: cfg.ListenPort, MTU: mtu})
	if err != nil {
		r.unlock()
		return nil, fmt.Errorf("client: bringing up the data plane: %w", err)
	}
	r.dp = dp
	if a, ok := dp.(activitySource); ok {
		r.activity = a.Activity()
	}
	r.tr = &quic.Transport{Conn: dp.ControlConn()}
	r.learner = r.newKeepalive()
	r.pmtu = NewPathMTU(cfg.PathMTU)
	if !cfg.Stall.Disable {
		r.stall = NewStallDetector(cfg.Stall)
	}
	// The control connection must outlive the longest keepalive gap.
	r.learner.SetMax(min(r.learner.cfg.Max, 10*time.Minute))
	n.updateStatus(func(s *Status) {
		s.DeviceID, s.DeviceName, s.Seq = st.DeviceID, st.DeviceName, st.Sequence
		if st.Config != nil {
			s.VIP4, s.VIP6 = st.Config.VIP4, st.Config.VIP6
		}
		s.KeepaliveS = r.learner.Interval().Seconds()
	})
	// A restarted node brings the tunnel up with the configuration it had,
	// so traffic can flow the moment the home agent answers.
	if st.Config != nil {
		if err := r.applyConfig(*st.Config, netip.AddrPort{}); err != nil {
			r.log.Warn("restoring the last configuration failed", "err", err)
		}
	}
	return r, nil
}

func newStoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// loop is the node's event loop.
func (r *runner) loop() error {
	r.hb, r.refresh, r.reconnect, r.debounce, r.unsuspect = newStoppedTimer(), newStoppedTimer(), newStoppedTimer(), newStoppedTimer(), newStoppedTimer()
	r.stallT = newStoppedTimer()
	var watch <-chan struct{}
	if r.cfg.Watcher != nil {
		watch = r.cfg.Watcher.Changed()
		if st, err := r.cfg.Watcher.State(); err != nil {
			r.log.Warn("reading network state", "err", err)
		} else {
			r.net = st
		}
		d := Diff(State{}, r.net, r.cfg.Preference)
		r.setLinks(d)
	}
	r.tryConnect("start", time.Now())

	var runErr error
	for runErr == nil {
		if r.fatal != nil {
			runErr = r.fatal
			break
		}
		var sessDone <-chan struct{}
		var events <-chan binding.Message
		var mtuUpdates <-chan mtuUpdate
		var activity <-chan struct{}
		if r.waitActivity {
			activity = r.activity
		}
		if r.sess != nil {
			sessDone, events, mtuUpdates = r.sess.Done(), r.sess.Events(), r.sess.MTUUpdates()
		}
		select {
		case <-r.ctx.Done():
			return r.shutdown(nil)
		case <-r.n.stop:
			return r.shutdown(nil)
		case <-watch:
			if r.changeAt.IsZero() {
				r.changeAt = time.Now()
				r.debounce.Reset(r.cfg.Debounce)
			}
		case <-r.debounce.C:
			at := r.changeAt
			r.changeAt = time.Time{}
			r.onNetChange(at)
		case <-r.unsuspect.C:
			r.onNetChange(time.Now())
		case <-r.hb.C:
			r.onHeartbeat()
		case <-r.stallT.C:
			r.onStallSample()
		case <-activity:
			r.onActivity()
		case <-r.refresh.C:
			r.onRefresh()
		case <-r.reconnect.C:
			r.tryConnect("reconnect", time.Now())
		case <-sessDone:
			r.onSessionLost()
		case m := <-events:
			runErr = r.onEvent(m)
		case u := <-mtuUpdates:
			r.onPathMTU(u)
		}
	}
	return r.shutdown(runErr)
}

// shutdown deregisters and releases everything.
func (r *runner) shutdown(err error) error {
	r.n.updateStatus(func(s *Status) { s.State = "stopping" })
	for _, t := range []*time.Timer{r.hb, r.refresh, r.reconnect, r.debounce, r.unsuspect, r.stallT} {
		t.Stop()
	}
	if r.sess != nil {
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if derr := r.sess.Deregister(ctx); derr != nil {
				r.log.Info("deregistration not acknowledged", "err", derr)
			} else {
				r.log.Info("deregistered")
			}
			cancel()
		}
		r.sess.Close()
		r.sess = nil
	}
	r.learner.close()
	r.tr.Close()
	if cerr := r.dp.Close(); cerr != nil {
		r.log.Warn("closing the data plane", "err", cerr)
	}
	if r.cfg.Host != nil {
		if cerr := r.cfg.Host.Close(); cerr != nil {
			r.log.Warn("removing host configuration", "err", cerr)
		}
	}
	if serr := r.cfg.StateDir.Save(r.st); serr != nil {
		r.log.Warn("saving state", "err", serr)
	}
	r.unlock()
	return err
}

// setLinks records the primary and standby links of a Delta, leaving out
// suspect links.
func (r *runner) setLinks(d Delta) {
	links := r.usable()
	r.hasLink, r.hasStby = len(links) > 0, len(links) > 1
	if r.hasLink {
		r.primary = links[0]
	} else {
		r.primary = Link{}
	}
	if r.hasStby {
		r.standby = links[1]
	} else {
		r.standby = Link{}
	}
	r.n.updateStatus(func(s *Status) {
		s.Interface, s.InterfaceKind, s.Standby, s.Local = "", "", "", netip.Addr{}
		if r.hasLink {
			s.Interface, s.InterfaceKind = r.primary.Name, r.primary.Kind.String()
			s.Local = r.localAddr(r.primary)
		}
		if r.hasStby {
			s.Standby = r.standby.Name
		}
	})
}

// usable returns the usable links, best first, suspects last (a suspect
// link is still better than none).
func (r *runner) usable() []Link {
	links := r.net.Usable(r.cfg.Preference)
	now := time.Now()
	var good, bad []Link
	for _, l := range links {
		if until, ok := r.suspect[l.Index]; ok && now.Before(until) {
			bad = append(bad, l)
			continue
		}
		delete(r.suspect, l.Index)
		good = append(good, l)
	}
	return append(good, bad...)
}

// onNetChange re-reads the network state after a debounced burst and acts
// on the difference.
func (r *runner) onNetChange(at time.Time) {
	st, err := r.cfg.Watcher.State()
	if err != nil {
		r.log.Warn("reading network state", "err", err)
		return
	}
	old := r.net
	r.net = st
	// A suspect link whose state changed gets another chance.
	for idx := range r.suspect {
		o, _ := old.Interface(idx)
		c, _ := st.Interface(idx)
		if !slices.Equal(o.Addrs, c.Addrs) || o.Up != c.Up {
			delete(r.suspect, idx)
		}
	}
	prevPrimary, hadLink := r.primary, r.hasLink
	prevStandby, hadStby := r.standby, r.hasStby
	d := Diff(old, st, r.cfg.Preference)
	r.setLinks(d)
	pathChanged := hadLink != r.hasLink || (r.hasLink && (prevPrimary.Index != r.primary.Index || !sameLinkPath(prevPrimary, r.primary)))
	standbyChanged := hadStby != r.hasStby || (r.hasStby && (prevStandby.Index != r.standby.Index || !sameLinkPath(prevStandby, r.standby)))
	switch {
	case pathChanged:
		reason := d.Reason
		if reason == "" || !d.PathChanged {
			reason = fmt.Sprintf("primary link now %s", r.primary.Name)
		}
		r.log.Info("path changed", "reason", reason, "primary", r.primary.Name, "standby", r.standby.Name)
		r.learner.Reset()
		r.handover(reason, at, prevPrimary, hadLink)
	case standbyChanged && r.sess != nil:
		r.log.Info("standby link changed", "standby", r.standby.Name)
		if err := r.bind(); err != nil {
			r.log.Warn("updating the standby entry", "err", err)
		}
	}
}

// localAddr returns the address the node sends from on link, matching the
// home agent's address family.
func (r *runner) localAddr(l Link) netip.Addr {
	want4 := true
	if len(r.st.HomeAgent.Addrs) > 0 {
		want4 = r.st.HomeAgent.Addrs[0].Addr().Unmap().Is4()
	}
	var fallback netip.Addr
	for _, a := range l.globalAddrs() {
		if a.Is4() == want4 {
			return a
		}
		if !fallback.IsValid() {
			fallback = a
		}
	}
	return fallback
}

// haAddrs returns the home agent addresses to try, those of a family the
// primary link can reach first.
func (r *runner) haAddrs() []netip.AddrPort {
	addrs := slices.Clone(r.st.HomeAgent.Addrs)
	if r.hasLink {
		slices.SortStableFunc(addrs, func(a, b netip.AddrPort) int {
			ra, rb := r.reachRank(a.Addr()), r.reachRank(b.Addr())
			return ra - rb
		})
	}
	return addrs
}

func (r *runner) reachRank(a netip.Addr) int {
	if (a.Unmap().Is4() && r.primary.HasDefault4) || (!a.Unmap().Is4() && r.primary.HasDefault6) {
		return 0
	}
	return 1
}

// pinHomeAgent routes the home agent through the primary link.
func (r *runner) pinHomeAgent() {
	if r.cfg.Host == nil || r.cfg.Watcher == nil {
		return
	}
	var addrs []netip.Addr
	for _, a := range r.st.HomeAgent.Addrs {
		addrs = append(addrs, a.Addr().Unmap())
	}
	link := Link{}
	if r.hasLink {
		link = r.primary
	}
	if err := r.cfg.Host.RouteHomeAgent(addrs, link); err != nil {
		r.log.Warn("routing the home agent through the primary link", "link", link.Name, "err", err)
	}
}

// handover moves the control session and the binding to the new primary
// link: route the home agent through it, rebind the shared socket, send
// the home agent's WireGuard peer keepalives from it when the old link is
// gone (announceOnMove), open a new QUIC connection from it and send the
// binding update on it at once,
// and only then close the old connection (make-before-break). If the new
// path does not work while the old link is still there and its session
// alive, the node goes back to it and avoids the new link for a while.
func (r *runner) handover(reason string, at time.Time, prev Link, hadPrev bool) {
	r.n.updateStatus(func(s *Status) { s.State = "moving" })
	r.pinHomeAgent()
	if err := r.dp.Rebind(); err != nil {
		r.log.Warn("rebinding the data plane", "err", err)
	}
	if !r.hasLink {
		r.n.updateStatus(func(s *Status) { s.State = "no-link" })
		r.reconnect.Stop()
		return
	}
	if announceOnMove(prev, hadPrev, r.net.Usable(r.cfg.Preference)) {
		r.announceMove()
	}
	if r.connect(reason, at) {
		return
	}
	if r.sess != nil && hadPrev && prev.Index != r.primary.Index {
		if _, still := r.net.Interface(prev.Index); still && slices.ContainsFunc(r.net.Usable(r.cfg.Preference), func(l Link) bool { return l.Index == prev.Index }) {
			r.log.Warn("new path failed; staying on the previous link", "failed", r.primary.Name, "staying", prev.Name)
			r.suspect[r.primary.Index] = time.Now().Add(r.cfg.SuspectFor)
			r.unsuspect.Reset(r.cfg.SuspectFor)
			r.setLinks(Delta{})
			r.pinHomeAgent()
			if err := r.dp.Rebind(); err != nil {
				r.log.Warn("rebinding the data plane", "err", err)
			}
			r.n.updateStatus(func(s *Status) { s.State = "registered" })
			return
		}
	}
	r.scheduleReconnect()
}

// tryConnect connects if there is a link (or no watcher to say there is
// none) and schedules a retry on failure.
func (r *runner) tryConnect(reason string, at time.Time) {
	if r.cfg.Watcher != nil && !r.hasLink {
		r.n.updateStatus(func(s *Status) { s.State = "no-link" })
		r.log.Info("waiting for a usable network link")
		return
	}
	if reason == "start" {
		r.pinHomeAgent()
	}
	if !r.connect(reason, at) {
		r.scheduleReconnect()
	}
}

func (r *runner) scheduleReconnect() {
	d := r.backoff.Next()
	r.log.Info("reconnecting later", "in", d.Round(time.Millisecond), "attempt", r.backoff.Attempts())
	r.n.updateStatus(func(s *Status) { s.State = "reconnecting" })
	r.reconnect.Reset(d)
}

// connect opens a new session to the home agent, registers and binds on
// it, and replaces the current session on success. at is when the event
// that caused it happened (for the handover duration).
func (r *runner) connect(reason string, at time.Time) bool {
	r.n.updateStatus(func(s *Status) {
		if s.State != "registered" && s.State != "moving" {
			s.State = "connecting"
		}
	})
	var errs []error
	for _, addr := range r.haAddrs() {
		ok, err := r.connectTo(addr, reason, at)
		if ok {
			return true
		}
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, ErrRevoked) {
				r.fatal = err
				break
			}
		}
	}
	err := errors.Join(errs...)
	r.log.Warn("connecting to the home agent failed", "reason", reason, "err", err)
	r.n.updateStatus(func(s *Status) { s.LastError = err.Error() })
	return false
}

func (r *runner) connectTo(addr netip.AddrPort, reason string, at time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.ConnectTimeout)
	defer cancel()
	s, err := dialSession(ctx, r.tr, addr, r.tlsConf, quicConfig(r.learner.cfg.Max+30*time.Second), r.log)
	if err != nil {
		return false, classifyDialError(err)
	}
	reg := &binding.Register{DeviceID: r.st.DeviceID, WGPublicKey: r.wgPub, Lifetime: r.cfg.Lifetime, Software: r.cfg.Software}
	mtu, mtuSrc := r.beginPathMTU(addr)
	bu := r.newUpdate()
	r.lastSent = time.Now()
	ra, ba, err := s.Register(ctx, reg, bu)
	if err != nil {
		s.Close()
		return false, err
	}
	if !ra.Status.OK() {
		s.Close()
		err := fmt.Errorf("%w: registration at %s: %w", ErrRejected, addr, ra.Status.Err(""))
		if ra.Status == binding.StatusRevoked {
			err = fmt.Errorf("%w: %w", ErrRevoked, err)
		}
		return false, err
	}
	if ba != nil && ba.Status == binding.StatusStaleSequence {
		// RFC 6275 §9.5.1: continue after the home agent's number, in one
		// more round trip.
		r.log.Info("binding sequence resynchronised", "ours", bu.Sequence, "home_agent", ba.Sequence)
		r.st.Sequence = ba.Sequence
		bu = r.newUpdate()
		ba, err = s.Bind(ctx, bu)
		if err != nil {
			s.Close()
			return false, err
		}
	}
	if ba == nil || !ba.Status.OK() {
		s.Close()
		st := binding.StatusInternal
		if ba != nil {
			st = ba.Status
		}
		return false, fmt.Errorf("%w: binding update at %s: %w", ErrRejected, addr, st.Err(""))
	}
	// The new session works: it replaces the old one.
	old := r.sess
	r.sess = s
	if old != nil {
		old.Close()
	}
	cfg := configFromAck(ra)
	if err := r.applyConfig(cfg, addr); err != nil {
		r.log.Error("applying the home agent's configuration", "err", err)
	}
	r.st.Config = &cfg
	r.applyPathMTU(mtu, mtuSrc)
	r.learner.SetInitial(cfg.Keepalive)
	r.afterBind(ba, bu)
	r.backoff.Reset()
	r.restartStall()
	handover := old != nil || reason != "start" && reason != "reconnect"
	dur := time.Since(at)
	r.n.updateStatus(func(st *Status) {
		st.State = "registered"
		st.HomeAgent = addr
		st.VIP4, st.VIP6 = cfg.VIP4, cfg.VIP6
		st.LastError = ""
		if reason == "reconnect" {
			st.Reconnects++
		}
		if handover {
			st.Handovers++
			st.LastHandoverMs = float64(dur.Microseconds()) / 1000
			st.LastHandoverAt = time.Now().UTC()
			st.LastHandoverReason = reason
		}
	})
	r.log.Info("registered", "home_agent", addr, "reason", reason, "vip4", cfg.VIP4, "vip6", cfg.VIP6,
		"care_of", ba.Observed, "seq", bu.Sequence, "took", dur.Round(time.Microsecond))
	return true, nil
}

// newUpdate builds the next binding update: the primary link's entry (the
// one it is sent over), and the standby's.
func (r *runner) newUpdate() *binding.BindingUpdate {
	r.st.Sequence++
	bu := &binding.BindingUpdate{
		Sequence: r.st.Sequence,
		Flags:    binding.FlagAck | binding.FlagHome | binding.FlagOverwrite,
		Lifetime: r.cfg.Lifetime,
	}
	if mtu, _ := r.pmtu.Current(); mtu > 0 && mtu <= 0xffff {
		bu.PathMTU = uint16(mtu) // the home agent starts our downlink there
	}
	port := r.localPort()
	if !r.hasLink {
		bu.Via = 1
		bu.Entries = []binding.CareOf{{BID: 1, Priority: 200}}
		return bu
	}
	bu.Via = bidOf(r.primary)
	bu.Entries = append(bu.Entries, binding.CareOf{
		BID: bu.Via, Kind: wireKind(r.primary.Kind), Priority: 200,
		Local: addrPortIf(r.localAddr(r.primary), port),
	})
	if r.hasStby {
		bu.Entries = append(bu.Entries, binding.CareOf{
			BID: bidOf(r.standby), Kind: wireKind(r.standby.Kind), Priority: 100,
			Local: addrPortIf(r.localAddr(r.standby), port),
		})
	}
	return bu
}

func addrPortIf(a netip.Addr, port uint16) netip.AddrPort {
	if !a.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, port)
}

// localPort is the port of the shared socket.
func (r *runner) localPort() uint16 {
	if ua, ok := r.dp.ControlConn().LocalAddr().(*net.UDPAddr); ok {
		return uint16(ua.Port)
	}
	return r.cfg.ListenPort
}

// bidOf is the binding id of a link: its interface index, stable while
// the interface exists (0 is avoided).
func bidOf(l Link) uint16 {
	if l.Index <= 0 || l.Index > 0xffff {
		return 0xffff
	}
	return uint16(l.Index)
}

func wireKind(k Kind) binding.Kind {
	switch k {
	case KindWired:
		return binding.KindEthernet
	case KindWiFi:
		return binding.KindWiFi
	case KindCellular:
		return binding.KindCellular
	}
	return binding.KindUnknown
}

// bind sends a binding update on the current session (refresh, standby
// change, NAT rebinding), resynchronising once on a stale sequence.
func (r *runner) bind() error {
	if r.sess == nil {
		return errors.New("client: no control session")
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.ConnectTimeout)
	defer cancel()
	for attempt := 0; attempt < 2; attempt++ {
		bu := r.newUpdate()
		r.lastSent = time.Now()
		ba, err := r.sess.Bind(ctx, bu)
		if err != nil {
			return err
		}
		if ba.Status == binding.StatusStaleSequence && attempt == 0 {
			r.log.Info("binding sequence resynchronised", "ours", bu.Sequence, "home_agent", ba.Sequence)
			r.st.Sequence = ba.Sequence
			continue
		}
		if !ba.Status.OK() {
			return fmt.Errorf("%w: binding update: %w", ErrRejected, ba.Status.Err(""))
		}
		r.afterBind(ba, bu)
		return nil
	}
	return fmt.Errorf("%w: binding update: still stale after resynchronising", ErrRejected)
}

// afterBind records an accepted binding and schedules the refresh and the
// next heartbeat.
func (r *runner) afterBind(ba *binding.BindingAck, bu *binding.BindingUpdate) {
	r.granted = ba.Lifetime
	if r.granted <= 0 {
		r.granted = bu.Lifetime
	}
	if ba.Observed.IsValid() {
		r.observed = ba.Observed
	}
	if err := r.cfg.StateDir.Save(r.st); err != nil {
		r.log.Warn("saving state", "err", err)
	}
	r.refresh.Reset(max(r.granted*2/3, time.Second))
	r.hb.Reset(r.learner.Interval())
	r.n.updateStatus(func(s *Status) {
		s.Seq = bu.Sequence
		s.CareOf = r.observed
		s.LifetimeS = r.granted.Seconds()
		s.KeepaliveS = r.learner.Interval().Seconds()
		s.KeepaliveLearned = r.learner.Status().Converged
		if rtt := r.sess.RTT(); rtt > 0 {
			s.RTTms = float64(rtt.Microseconds()) / 1000
		}
	})
}

// onRefresh refreshes the binding before its lifetime ends.
func (r *runner) onRefresh() {
	if r.sess == nil {
		return
	}
	if err := r.bind(); err != nil {
		r.log.Warn("refreshing the binding", "err", err)
		r.sess.Close()
		r.onSessionLost()
	}
}

// onSessionLost reconnects after the control connection ended.
func (r *runner) onSessionLost() {
	if r.sess == nil {
		return
	}
	err := r.sess.Err()
	r.sess.Close()
	r.sess = nil
	r.hb.Stop()
	r.refresh.Stop()
	r.stopStall()
	var idle *quic.IdleTimeoutError
	if errors.As(err, &idle) {
		// The connection idled out between keepalives: the gap was too
		// long for the path (NAT) or the home agent's idle timeout.
		r.learner.Observe(time.Since(r.lastSent), false)
	}
	r.log.Warn("control connection lost", "err", err)
	r.n.updateStatus(func(s *Status) {
		s.State = "reconnecting"
		if err != nil {
			s.LastError = err.Error()
		}
	})
	r.tryConnect("reconnect", time.Now())
}

// onEvent handles a message the home agent sent on its own.
func (r *runner) onEvent(m binding.Message) error {
	switch m := m.(type) {
	case *binding.Switch:
		r.log.Info("home agent asks to switch", "to", m.Addrs, "reason", m.Reason)
		prev := r.st.HomeAgent
		r.st.HomeAgent = HomeAgent{Addrs: slices.Clone(m.Addrs), Fingerprint: m.Fingerprint}
		tlsConf, err := clientTLS(r.id, m.Fingerprint)
		if err != nil {
			r.st.HomeAgent = prev
			return nil
		}
		prevTLS := r.tlsConf
		r.tlsConf = tlsConf
		r.pinHomeAgent()
		if r.connect("switch to "+m.Addrs[0].String(), time.Now()) {
			return nil
		}
		// The new home agent did not answer: stay with the old one while
		// it lasts.
		r.log.Warn("switch failed; staying with the current home agent")
		r.st.HomeAgent, r.tlsConf = prev, prevTLS
		r.pinHomeAgent()
	case *binding.Deregister:
		r.log.Warn("home agent ended the registration", "status", m.Status, "reason", m.Reason)
		if m.Status == binding.StatusRevoked {
			return fmt.Errorf("%w (%s)", ErrRevoked, m.Reason)
		}
		r.sess.Close()
		r.onSessionLost()
	}
	return nil
}

// configFromAck extracts the configuration of a RegisterAck.
func configFromAck(ra *binding.RegisterAck) NetConfig {
	return NetConfig{
		VIP4: ra.VIP4, VIP6: ra.VIP6, HATunnel4: ra.HATunnel4, HATunnel6: ra.HATunnel6,
		HAPublicKey: ra.HAPublicKey, DataEndpoint: ra.DataEndpoint,
		DNS: slices.Clone(ra.DNS), SearchDomain: ra.SearchDomain, Routes: slices.Clone(ra.Routes),
		Lifetime: ra.Lifetime, Keepalive: ra.Keepalive, MTU: int(ra.MTU),
	}
}

// fullTunnelRoutes cover everything while staying more specific than a
// default route.
var fullTunnelRoutes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1"),
	netip.MustParsePrefix("::/1"), netip.MustParsePrefix("8000::/1"),
}

// applyConfig configures the home agent as WireGuard peer and the tunnel
// interface. control is the home agent's control address (zero: the
// first one known).
func (r *runner) applyConfig(cfg NetConfig, control netip.AddrPort) error {
	var errs []error
	tc := TunnelConfig{DNS: cfg.DNS, SearchDomain: cfg.SearchDomain, MTU: cfg.MTU}
	if cfg.VIP4.IsValid() {
		tc.Addresses = append(tc.Addresses, netip.PrefixFrom(cfg.VIP4, 32))
	}
	if cfg.VIP6.IsValid() {
		tc.Addresses = append(tc.Addresses, netip.PrefixFrom(cfg.VIP6, 128))
	}
	allowed := slices.Clone(cfg.Routes)
	for _, a := range []netip.Addr{cfg.HATunnel4, cfg.HATunnel6} {
		if a.IsValid() {
			allowed = append(allowed, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	tc.Routes = slices.Clone(allowed)
	if r.cfg.FullTunnel {
		allowed = append(allowed, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
		tc.Routes = append(tc.Routes, fullTunnelRoutes...)
	}
	if r.cfg.Host != nil && (r.tunCfg == nil || !tunnelConfigEqual(*r.tunCfg, tc)) {
		if err := r.cfg.Host.ConfigureTunnel(tc); err != nil {
			errs = append(errs, fmt.Errorf("client: configuring the tunnel interface: %w", err))
		} else {
			r.tunCfg = &tc
		}
	}
	ep := cfg.DataEndpoint
	if !ep.IsValid() {
		ep = control
	}
	if !ep.IsValid() && len(r.st.HomeAgent.Addrs) > 0 {
		ep = r.st.HomeAgent.Addrs[0]
	}
	ep = netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port())
	key := tunnel.Key(cfg.HAPublicKey)
	if key.IsZero() {
		return errors.Join(append(errs, fmt.Errorf("client: home agent sent no WireGuard key"))...)
	}
	if !r.peerKey.IsZero() && r.peerKey != key {
		if err := r.dp.RemovePeer(r.peerKey); err != nil {
			r.log.Warn("removing the old home agent peer", "err", err)
		}
	}
	// Keepalives are the node's own heartbeats on the same socket (one
	// NAT mapping), so WireGuard's persistent keepalive stays off.
	if err := r.dp.SetPeer(tunnel.Peer{PublicKey: key, AllowedIPs: allowed, Endpoint: ep}); err != nil {
		errs = append(errs, fmt.Errorf("client: configuring the home agent peer: %w", err))
	} else {
		r.peerKey = key
	}
	return errors.Join(errs...)
}

func tunnelConfigEqual(a, b TunnelConfig) bool {
	return slices.Equal(a.Addresses, b.Addresses) && slices.Equal(a.Routes, b.Routes) &&
		slices.Equal(a.DNS, b.DNS) && a.SearchDomain == b.SearchDomain && a.MTU == b.MTU
}
