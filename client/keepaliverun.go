package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/homeip/homeip/tunnel"
)

// liveKeepalive is the runner's keepalive schedule: the live path's
// interval comes from an IdleKeepalive, and an idle prober, a goroutine
// owned by liveKeepalive, learns the NAT's idle timeout on a socket of its
// own. The runner calls every method but close from its goroutine; the
// prober reports under mu.
type liveKeepalive struct {
	log *slog.Logger
	// cfg is the search's configuration (its Max bounds the control
	// connection's idle timeout).
	cfg KeepaliveConfig
	// where returns the current network key, the home agent's address
	// the session uses (invalid: no session) and the interface to probe
	// through ("" for the routing table's choice). Runner goroutine only.
	where func() (key string, ha netip.AddrPort, iface string)
	save  func(map[string]LearnedKeepalive) error

	mu     sync.Mutex
	idle   *IdleKeepalive
	ctrl   time.Duration // cap from the control connection's idle timeout, 0 = none
	target probeTarget   // where the prober probes now
	saved  map[string]LearnedKeepalive

	wake   chan struct{} // one pending value: the target changed
	cancel context.CancelFunc
	done   chan struct{} // closed when the prober returned
}

// probeTarget is where the prober probes: a network and the home agent's
// shared port as seen from it.
type probeTarget struct {
	key   string
	ha    netip.AddrPort
	iface string
}

func newLiveKeepalive(ctx context.Context, cfg IdleKeepaliveConfig, known map[string]LearnedKeepalive, where func() (string, netip.AddrPort, string), save func(map[string]LearnedKeepalive) error, log *slog.Logger) *liveKeepalive {
	cfg = cfg.withDefaults()
	k := &liveKeepalive{
		log: log, cfg: cfg.Search, where: where, save: save,
		idle: NewIdleKeepalive(cfg, known), saved: known,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	pctx, cancel := context.WithCancel(ctx)
	k.cancel = cancel
	if cfg.DisableProbe {
		close(k.done)
		return k
	}
	go k.probeLoop(pctx)
	return k
}

// close stops the prober and waits for it, then persists what was
// learned.
func (k *liveKeepalive) close() {
	k.cancel()
	<-k.done
	k.persist()
}

// sync follows the runner's network and session: a new network restores
// or restarts what was learned, and the prober is pointed at the home
// agent's address of the current session.
func (k *liveKeepalive) sync() {
	key, ha, iface := k.where()
	k.mu.Lock()
	if key != k.idle.Network() {
		k.idle.Start(key, time.Now())
		st := k.idle.Status()
		k.log.Info("keepalive for this network", "network", key, "interval", st.Interval, "proven", st.Safe, "converged", st.Converged)
	}
	t := probeTarget{key: key, ha: ha, iface: iface}
	changed := t != k.target
	k.target = t
	k.mu.Unlock()
	if changed {
		select {
		case k.wake <- struct{}{}:
		default:
		}
	}
}

// Interval returns how long the live path may stay idle.
func (k *liveKeepalive) Interval() time.Duration {
	k.sync()
	k.mu.Lock()
	defer k.mu.Unlock()
	d := min(k.idle.LiveInterval(), k.cfg.Max)
	if k.ctrl > 0 {
		d = min(d, k.ctrl)
	}
	return d
}

// Observe reports a live idle gap's outcome. A surviving gap teaches
// nothing the probe socket does not; a lost one lowers the bound.
func (k *liveKeepalive) Observe(gap time.Duration, alive bool) {
	if alive {
		return
	}
	k.mu.Lock()
	k.idle.ObserveLive(gap, time.Now())
	st := k.idle.Status()
	k.mu.Unlock()
	k.log.Warn("live NAT mapping lost; keepalive lowered", "idle_gap", gap.Round(time.Second), "interval", st.Interval)
	k.persist()
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// Reset is called when the path changed; sync finds the new network.
func (k *liveKeepalive) Reset() { k.sync() }

// SetInitial takes the home agent's suggested keepalive. The home agent
// closes an idle control connection after three of its suggested
// intervals, so the live interval stays below two.
func (k *liveKeepalive) SetInitial(d time.Duration) {
	if d <= 0 {
		return
	}
	k.mu.Lock()
	k.ctrl = 2 * d
	k.mu.Unlock()
}

// SetMax bounds the live interval.
func (k *liveKeepalive) SetMax(d time.Duration) {
	if d > 0 {
		k.cfg.Max = max(d, k.cfg.Min)
	}
}

// Status returns what is known about the current network.
func (k *liveKeepalive) Status() KeepaliveStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.idle.Status()
}

// persist saves what was learned when it changed.
func (k *liveKeepalive) persist() {
	k.mu.Lock()
	known := k.idle.Known()
	same := len(known) == len(k.saved)
	for key, l := range known {
		if s, ok := k.saved[key]; !ok || s.Safe != l.Safe || s.Ceiling != l.Ceiling || s.Converged != l.Converged {
			same = false
		}
	}
	k.mu.Unlock()
	if same || k.save == nil {
		return
	}
	if err := k.save(known); err != nil {
		k.log.Warn("saving what was learned about NAT timeouts", "err", err)
		return
	}
	k.mu.Lock()
	k.saved = known
	k.mu.Unlock()
}

// probeGrace is how long after the requested delay a reply may arrive.
const probeGrace = 3 * time.Second

// probeLoop runs probe rounds on the probe socket while there is
// something to learn. The socket is kept across rounds (its mapping
// sees the same traffic as the live one: a request and its answer) and
// reopened when the target changes.
func (k *liveKeepalive) probeLoop(ctx context.Context) {
	defer close(k.done)
	var (
		conn *net.UDPConn
		at   probeTarget
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		k.mu.Lock()
		t := k.target
		gap, ok := k.idle.ProbeGap()
		if t.key != k.idle.Network() {
			ok = false
		}
		k.mu.Unlock()
		if !ok || !t.ha.IsValid() {
			select {
			case <-ctx.Done():
				return
			case <-k.wake:
				continue
			}
		}
		if conn == nil || t != at {
			if conn != nil {
				conn.Close()
				conn = nil
			}
			c, err := dialProbe(ctx, t)
			if err != nil {
				k.log.Debug("idle probe socket", "err", err)
				if !k.pause(ctx, retry, 30*time.Second) {
					return
				}
				continue
			}
			conn, at = c, t
		}
		alive, err := probeRound(ctx, conn, gap)
		if ctx.Err() != nil {
			return
		}
		if err == nil && !alive {
			// Unanswered: the mapping expired, or the path or the home
			// agent is not answering at all. An immediate probe tells
			// which; only a path that answers it teaches a lost gap.
			ok, err2 := probeRound(ctx, conn, 0)
			if ctx.Err() != nil {
				return
			}
			if err2 != nil || !ok {
				k.log.Debug("idle probes unanswered; path or home agent not answering", "err", err2)
				if !k.pause(ctx, retry, time.Minute) {
					return
				}
				continue
			}
		}
		if err != nil {
			k.log.Debug("idle probe", "err", err)
			if !k.pause(ctx, retry, 30*time.Second) {
				return
			}
			continue
		}
		k.mu.Lock()
		stale := k.target.key != t.key
		if !stale {
			k.idle.ObserveProbe(gap, alive, time.Now())
		}
		st := k.idle.Status()
		k.mu.Unlock()
		if stale {
			continue
		}
		k.log.Info("idle probe", "gap", gap, "kept", alive, "interval", st.Interval, "proven", st.Safe, "lost_at", st.Ceiling, "converged", st.Converged)
		k.persist()
	}
}

// pause waits d, or until the target changes; false when ctx ended.
func (k *liveKeepalive) pause(ctx context.Context, t *time.Timer, d time.Duration) bool {
	t.Reset(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-k.wake:
		return true
	case <-t.C:
		return true
	}
}

// dialProbe opens the probe socket towards t.ha, through t.iface when
// given, on a port of its own (and so a NAT mapping of its own).
func dialProbe(ctx context.Context, t probeTarget) (*net.UDPConn, error) {
	var d net.Dialer
	if t.iface != "" {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = bindToDevice(int(fd), t.iface)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.DialContext(ctx, "udp", t.ha.String())
	if err != nil {
		return nil, fmt.Errorf("client: idle probe socket to %v: %w", t.ha, err)
	}
	return c.(*net.UDPConn), nil
}

// probeRound asks the home agent to answer after gap and waits for the
// answer: true when it came (the mapping survived the gap).
func probeRound(ctx context.Context, conn *net.UDPConn, gap time.Duration) (bool, error) {
	req, err := tunnel.NewIdleProbeRequest(gap)
	if err != nil {
		return false, err
	}
	if _, err := conn.Write(req.Marshal()); err != nil {
		return false, fmt.Errorf("client: sending idle probe: %w", err)
	}
	deadline := time.Now().Add(req.Delay + probeGrace)
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 64)
	for {
		if err := conn.SetReadDeadline(deadline); err != nil {
			return false, fmt.Errorf("client: idle probe deadline: %w", err)
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		n, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return false, nil
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				// An ICMP error from an earlier probe: keep waiting.
				continue
			}
			return false, fmt.Errorf("client: reading idle probe reply: %w", err)
		}
		p, err := tunnel.ParseIdleProbe(buf[:n])
		if err == nil && p.Op == tunnel.IdleProbeReply && p.Nonce == req.Nonce {
			return true, nil
		}
		// A late answer to an earlier request, or noise: ignore it.
	}
}

// newKeepalive builds the runner's keepalive schedule from the
// configuration and what the state directory remembers.
func (r *runner) newKeepalive() *liveKeepalive {
	cfg := r.cfg.IdleKeepalive
	if cfg.Search == (KeepaliveConfig{}) {
		cfg.Search = r.cfg.Keepalive
	}
	known, err := r.cfg.StateDir.LoadKeepalive()
	if err != nil {
		r.log.Warn("what was learned about NAT timeouts is lost", "err", err)
	}
	return newLiveKeepalive(r.ctx, cfg, known, r.keepaliveWhere, r.cfg.StateDir.SaveKeepalive, r.log)
}

// keepaliveWhere says where the node is, for liveKeepalive: the network
// of the primary link, the home agent's address of the current session
// and the primary link's interface.
func (r *runner) keepaliveWhere() (string, netip.AddrPort, string) {
	key, iface := "default", ""
	if r.hasLink {
		key, iface = NetworkKey(r.primary), r.primary.Name
	}
	var ha netip.AddrPort
	if r.sess != nil {
		ha = r.sess.remote
	}
	return key, ha, iface
}

// heartbeatEvery is how many keepalive intervals pass between heartbeats
// on an idle path; the intervals between are kept by keepalive datagrams.
// A dead path is noticed sooner all the same: unacknowledged datagrams
// let the control connection idle out.
const heartbeatEvery = 8

// keepaliveDatagram is the payload of a keepalive datagram: the home
// agent does not read it.
var keepaliveDatagram = []byte{0}

// sendKeepalive keeps the path alive with a QUIC datagram instead of a
// heartbeat, and reports whether it did. A datagram is one packet (the
// home agent's ACK of it needs no acknowledgement) where a heartbeat is
// two (the acknowledgement of its answer follows it); both refresh the
// NAT mapping and the control connection's idle timers. Every
// heartbeatEvery-th interval is a heartbeat all the same: it measures the
// RTT, notices NAT rebinding and a dead path. Without datagram support
// (an older home agent, or a test's bare stream) every keepalive is a
// heartbeat.
func (r *runner) sendKeepalive() bool {
	r.keepalives++
	if r.keepalives%heartbeatEvery == 0 || r.sess.conn == nil || !r.sess.conn.ConnectionState().SupportsDatagrams.Remote {
		return false
	}
	if err := r.sess.conn.SendDatagram(keepaliveDatagram); err != nil {
		r.log.Debug("keepalive datagram not sent", "err", err)
		return false
	}
	r.lastSent = time.Now()
	d := r.learner.Interval()
	r.hb.Reset(d)
	r.n.updateStatus(func(s *Status) {
		s.KeepaliveS = d.Seconds()
		s.KeepaliveLearned = r.learner.Status().Converged
	})
	return true
}
