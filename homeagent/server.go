package homeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/homeagent/adminapi"
	"github.com/homeip/homeip/homeagent/config"
	"github.com/homeip/homeip/homeagent/dns"
	"github.com/homeip/homeip/homeagent/lease"
	"github.com/homeip/homeip/homeagent/metrics"
	"github.com/homeip/homeip/pool"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/tunnel"
)

// Options are what New needs. Config must have its defaults applied and
// its pools set (see config.Config.WithDefaults and config.DefaultPools);
// Store, DataPlane, ControlConn and Identity are required. The Server does
// not own them: the caller closes them after Run returns.
type Options struct {
	Config   config.Config
	Identity *Identity
	Store    store.Store
	// DataPlane is the WireGuard data plane the server adds, re-points and
	// removes device peers on.
	DataPlane tunnel.DataPlane
	// ControlConn is the QUIC side of the data plane's shared UDP port
	// (tunnel.Device.ControlConn), or any UDP socket in tests.
	ControlConn net.PacketConn
	// DNSListen overrides where DNS listens (default: the tunnel addresses
	// at Config.DNSPort).
	DNSListen []netip.AddrPort
	// ResolvConfs are the files naming the host's resolvers, used when no
	// DNS upstream is configured (default dns.DefaultResolvConfs).
	ResolvConfs []string
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is the home agent. Create it with New, run it with Run. Its
// methods are safe for concurrent use.
type Server struct {
	cfg config.Config
	id  *Identity
	st  store.Store
	dp  tunnel.DataPlane
	pc  net.PacketConn
	log *slog.Logger
	// baseLog is the caller's logger, for components that add their own
	// component attribute.
	baseLog *slog.Logger
	now     func() time.Time
	pool    *pool.Pool
	cache   *binding.Cache
	idx     *index
	// limit is every device's message budget (Register, BindingUpdate,
	// Deregister, Heartbeat); each device's state is devState.tat.
	limit binding.Limiter
	// srcLim and refusedLog bound what unauthenticated peers cost: failed
	// attempts per source, and log lines about refusals.
	srcLim     *sourceLimiter
	refusedLog *logLimiter
	m          *serverMetrics
	opts       Options

	static *staticSet
	// keeper writes the bindings behind to the data directory.
	keeper *bindingKeeper

	// livePeerCount is how many devices have a live peer (devState.peer
	// set).
	livePeerCount atomic.Int64

	// mu guards the fields below. It comes after any device lock
	// (devState.mu) and is never held while one is taken; see devState.
	mu       sync.Mutex
	sessions map[string]*session // device id → newest registered session
	conns    map[*session]struct{}
	// devs holds every device's soft state (registration, peer, binding
	// times); each record has its own lock.
	devs map[string]*devState
	// pendingDevs is the set of devices with a registration and no
	// binding (devState.pending set), for the sweep.
	pendingDevs map[*devState]struct{}
	draining    bool
	drainDone   chan struct{}

	runCtx context.Context
}

// New builds a home agent from the store's contents: the pool, the device
// index and the static (wg-quick) peers.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.DataPlane == nil || opts.ControlConn == nil || opts.Identity == nil {
		return nil, errors.New("homeagent: Store, DataPlane, ControlConn and Identity are required")
	}
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("homeagent: %w", err)
	}
	base := opts.Logger
	if base == nil {
		base = slog.New(slog.DiscardHandler)
	}
	log := base.With("component", "homeagent")
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var exclude []netip.Prefix
	for _, a := range []netip.Addr{cfg.Tunnel4, cfg.Tunnel6} {
		if a.IsValid() {
			exclude = append(exclude, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	p, err := pool.New(pool.Config{V4: cfg.Pool4, V6: cfg.Pool6, Exclude: exclude, Quarantine: cfg.Quarantine}, pool.WithClock(now))
	if err != nil {
		return nil, fmt.Errorf("homeagent: pool: %w", err)
	}
	ctx := context.Background()
	if err := lease.LoadPool(ctx, opts.Store, p); err != nil {
		return nil, fmt.Errorf("homeagent: loading leases into the pool: %w", err)
	}
	s := &Server{
		cfg: cfg, id: opts.Identity, st: opts.Store, dp: opts.DataPlane, pc: opts.ControlConn,
		log: log, baseLog: base, now: now, pool: p, idx: newIndex(), opts: opts,
		sessions: map[string]*session{}, conns: map[*session]struct{}{}, devs: map[string]*devState{},
		pendingDevs: map[*devState]struct{}{}, drainDone: make(chan struct{}),
	}
	if err := s.idx.load(ctx, opts.Store); err != nil {
		return nil, fmt.Errorf("homeagent: loading devices: %w", err)
	}
	s.static, err = loadStaticSet(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	for _, id := range s.static.list() {
		s.idx.setStatic(id, true)
	}
	s.cache = binding.NewCache(binding.Config{
		MaxCareOf:   cfg.MaxCareOf,
		MaxLifetime: cfg.Lifetime,
		Now:         now,
		Logger:      base,
	})
	s.keeper = newBindingKeeper(cfg.DataDir, log)
	s.limit = binding.NewLimiter(float64(cfg.UpdateRate), 2*cfg.UpdateRate)
	s.srcLim = newSourceLimiter()
	s.refusedLog = newLogLimiter(log, now)
	s.m = newServerMetrics(s)
	return s, nil
}

// Fingerprint is the certificate fingerprint devices pin.
func (s *Server) Fingerprint() string { return s.id.FingerprintString() }

// Metrics returns the server's metrics registry.
func (s *Server) Metrics() *metrics.Registry { return s.m.reg }

// Run serves until ctx is done or a drain finished, then shuts down
// cleanly: control connections closed, every peer removed from the data
// plane, DNS, metrics and the admin socket closed. The admin socket is
// opened last, so a client that can connect to it talks to a ready home
// agent. Run returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.runCtx = ctx
	s.mu.Unlock()

	for _, d := range s.idx.all() {
		if d.static && d.revoked.IsZero() && !d.wg.IsZero() {
			ds := s.devState(d.id)
			ds.mu.Lock()
			s.setPeerLocked(ds, d, netip.AddrPort{})
			ds.mu.Unlock()
		}
	}

	s.restoreBindings()
	keepCtx, stopKeeper := context.WithCancel(context.Background())
	keeperDone := make(chan struct{})
	go func() {
		defer close(keeperDone)
		s.keeper.run(keepCtx, s)
	}()
	// stopKeeper ends the keeper's goroutine; Run then writes what is
	// left itself.
	finalKeep := func() {
		stopKeeper()
		<-keeperDone
		if err := s.keeper.flush(s); err != nil {
			s.log.Error("writing the bindings at shutdown failed", "err", err)
		}
	}

	tr := &quic.Transport{Conn: s.pc, ConnContext: withConnPaths}
	ln, err := tr.Listen(binding.ServerTLSConfig(s.id.Cert), s.quicConfig())
	if err != nil {
		tr.Close()
		finalKeep()
		s.removeAllPeers()
		return fmt.Errorf("homeagent: QUIC listener: %w", err)
	}
	var wg sync.WaitGroup
	var closers []func()
	shutdown := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		cancel()
		s.closeAllSessions(0, "home agent shutting down")
		ln.Close()
		tr.Close()
		waited := make(chan struct{})
		go func() { wg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(s.cfg.ShutdownTimeout):
			s.log.Warn("shutdown timeout: connections still closing", "timeout", s.cfg.ShutdownTimeout)
		}
		finalKeep()
		s.removeAllPeers()
	}

	if !s.cfg.DNSDisabled {
		listen := s.opts.DNSListen
		if listen == nil {
			for _, a := range []netip.Addr{s.cfg.Tunnel4, s.cfg.Tunnel6} {
				if a.IsValid() {
					listen = append(listen, netip.AddrPortFrom(a, uint16(s.cfg.DNSPort)))
				}
			}
		}
		var host *dns.HostResolvers
		switch {
		case len(s.cfg.DNSUpstreams) > 0:
			s.log.Info("dns forwards other names", "upstreams", s.cfg.DNSUpstreams)
		case s.cfg.DNSNoForward:
			s.log.Info("dns refuses names outside its zone (dns_no_forward)")
		default:
			host = dns.NewHostResolvers(s.opts.ResolvConfs, listen)
			ups, from := host.Upstreams()
			if len(ups) == 0 {
				s.log.Warn("dns: no upstream configured and the host names no resolver; names outside the zone are refused until it does", "files", dns.DefaultResolvConfs)
			} else {
				s.log.Info("dns forwards other names to the host's resolvers", "upstreams", ups, "from", from)
			}
		}
		srv, err := dns.New(dns.Config{Zone: s.cfg.DNSZone, Listen: listen, Upstreams: s.cfg.DNSUpstreams, Host: host,
			Directory: directory{s.idx}, Logger: s.baseLog})
		if err == nil {
			err = srv.Start()
		}
		if err != nil {
			shutdown()
			return fmt.Errorf("homeagent: %w", err)
		}
		closers = append(closers, func() { srv.Close() })
	}
	if s.cfg.Metrics.IsValid() {
		mln, err := net.Listen("tcp", s.cfg.Metrics.String())
		if err != nil {
			shutdown()
			return fmt.Errorf("homeagent: metrics listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.m.reg.Handler())
		hs := newMetricsServer(mux, metricsTimeout)
		wg.Add(1)
		go func() { defer wg.Done(); hs.Serve(mln) }()
		closers = append(closers, func() { hs.Close() })
		s.log.Info("metrics listening", "addr", mln.Addr().String())
	}

	wg.Add(2)
	go func() { defer wg.Done(); s.acceptLoop(ctx, ln, &wg) }()
	go func() { defer wg.Done(); s.sweep(ctx) }()

	admin, err := adminapi.Listen(s.cfg.AdminSocket, adminapi.NewHandler(s, s.log), s.log)
	if err != nil {
		shutdown()
		return fmt.Errorf("homeagent: %w", err)
	}
	closers = append(closers, func() { admin.Close() })
	s.log.Info("home agent ready", "listen", s.pc.LocalAddr().String(), "fingerprint", s.Fingerprint(),
		"devices", s.idx.len(), "admin_socket", s.cfg.AdminSocket)

	select {
	case <-ctx.Done():
	case <-s.drainDone:
		// Let the devices read their Switch and leave first.
		select {
		case <-time.After(drainGrace):
		case <-ctx.Done():
		}
	}
	s.log.Info("home agent shutting down")
	shutdown()
	s.log.Info("home agent stopped")
	return nil
}

func (s *Server) acceptLoop(ctx context.Context, ln *quic.Listener, wg *sync.WaitGroup) {
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, conn)
		}()
	}
}

// quicConfig is the QUIC configuration of the control listener. Devices
// keep their connections alive with their own heartbeats, so QUIC's
// keepalive is off. Packets start at binding.InitialPacketSize, which
// fits a 1280-byte link, IPv4 or IPv6, so the home agent's handshake
// packets reach a device on such a link at the first attempt; path MTU
// discovery stays on.
func (s *Server) quicConfig() *quic.Config {
	return &quic.Config{
		MaxIdleTimeout:  3 * s.cfg.Keepalive,
		KeepAlivePeriod: 0, // devices keep the connection alive
		// Devices keep their NAT mapping and this connection alive with
		// QUIC datagrams between heartbeats (one packet each, answered by
		// an ACK the device need not acknowledge), and keep a fresh
		// connection sending while path MTU discovery runs with others;
		// echoSearchDatagrams reads them all and answers only the latter.
		EnableDatagrams:       true,
		HandshakeIdleTimeout:  10 * time.Second,
		MaxIncomingStreams:    4,
		MaxIncomingUniStreams: -1,
		InitialPacketSize:     binding.InitialPacketSize,
		Tracer:                tracePaths,
	}
}

// sweep expires bindings and retires their peers, and retires the peers
// of devices that registered but never sent a binding update within their
// lifetime, once a second.
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var evs []binding.Event
	var purged time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		evs = s.expireBindings(now, evs)
		s.expirePendingAt(now)
		if now.Sub(purged) >= purgeEvery {
			purged = now
			s.purgeQuarantine(ctx, now)
		}
	}
}

// ExpirePending runs one sweep (binding expiry, then pending
// registrations) at the current clock reading; tests with a fake clock
// call it instead of waiting for the sweeps.
func (s *Server) ExpirePending() {
	now := s.now()
	s.expireBindings(now, nil)
	s.expirePendingAt(now)
}

func (s *Server) expirePendingAt(now time.Time) {
	s.mu.Lock()
	cands := make([]*devState, 0, len(s.pendingDevs))
	for ds := range s.pendingDevs {
		cands = append(cands, ds)
	}
	s.mu.Unlock()
	for _, ds := range cands {
		ds.mu.Lock()
		if !ds.pending.IsZero() && !now.Before(ds.pending) {
			s.clearPendingLocked(ds)
			if _, bound := s.cache.Lookup(ds.id); !bound {
				if d, ok := s.idx.byIDCopy(ds.id); ok && !d.static {
					s.removePeerLocked(ds, d, "registration expired without binding")
				}
			}
		}
		ds.mu.Unlock()
	}
}
