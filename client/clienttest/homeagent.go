package clienttest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
)

// Config configures a fake home agent. The zero value is usable.
type Config struct {
	// Listen is the UDP address (default 127.0.0.1:0).
	Listen netip.AddrPort
	// Conn, when set, is used instead of listening on Listen (e.g. a
	// socket opened inside a test's network namespace). Restart then
	// fails: the fake cannot reopen it.
	Conn net.PacketConn
	// Lifetime granted to registrations and bindings (default 60 s): the
	// binding cache's maximum lifetime.
	Lifetime time.Duration
	// Keepalive suggested to devices (default 25 s).
	Keepalive time.Duration
	// Routes announced to devices (default 192.0.2.0/25, 2001:db8:1::/64).
	Routes []netip.Prefix
	// Logger; nil discards.
	Logger *slog.Logger
}

// Binding is what the fake knows about a device's binding: the binding
// cache's view of it, and what the last accepted update said.
type Binding struct {
	// Sequence is the last accepted sequence number.
	Sequence uint16
	// Lifetime is the lifetime granted to the last accepted update.
	Lifetime time.Duration
	// Observed is the care-of address: where the last binding update came
	// from.
	Observed netip.AddrPort
	// Via is the binding id the last update came over.
	Via uint16
	// Entries are the care-of entries the cache holds (primary and
	// standby), by binding id. Flags are zero: removed entries are gone.
	Entries map[uint16]binding.CareOf
	// PrimaryBID is the binding id of the entry the cache chose as
	// primary (highest priority among the observed entries).
	PrimaryBID uint16
	// Updates counts accepted binding updates since the binding was
	// created (it starts again after an expiry or removal).
	Updates int
}

type device struct {
	id, name string
	key      ed25519.PublicKey
	wgKey    [32]byte
	revoked  bool
	vip4     netip.Addr
	vip6     netip.Addr
	conn     *quic.Conn
	stream   *quic.Stream
	wmu      *sync.Mutex
	// What the last accepted binding update said; the binding itself is
	// in the cache, keyed by id.
	lifetime time.Duration
	observed netip.AddrPort
	via      uint16
	updates  int
	tat      int64 // rate limiter state (binding.Limiter), kept with the device as the home agent keeps it
}

type token struct {
	secret [binding.SecretSize]byte
	name   string
	used   bool
}

// HomeAgent is a fake home agent. Binding updates go through a real
// binding.Cache configured as the home agent configures it by default
// (care-of limit, per-device rate limit, priorities, lifetimes capped at
// Config.Lifetime, expiry swept every second). It is safe for concurrent
// use.
type HomeAgent struct {
	cfg   Config
	log   *slog.Logger
	cert  tls.Certificate
	fp    [32]byte
	wgPub [32]byte
	cache *binding.Cache
	limit binding.Limiter // per-device message rate, the home agent's default

	stopSweep context.CancelFunc
	swept     chan struct{} // closed when the cache's Run has returned

	mu      sync.Mutex
	addr    netip.AddrPort
	udp     *dropConn
	tr      *quic.Transport
	ln      *quic.Listener
	tokens  []*token
	devices map[string]*device // by device id
	nextVIP int
	regs    int
	regTry  int
	closed  bool
	wg      sync.WaitGroup

	drop    atomic.Bool
	natPort atomic.Uint32 // nonzero: report this port as observed
}

// New starts a fake home agent.
func New(cfg Config) (*HomeAgent, error) {
	if !cfg.Listen.IsValid() {
		cfg.Listen = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = time.Minute
	}
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = 25 * time.Second
	}
	if cfg.Routes == nil {
		cfg.Routes = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("2001:db8:1::/64")}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := binding.SelfSignedCert(priv, "fake home agent")
	if err != nil {
		return nil, err
	}
	h := &HomeAgent{cfg: cfg, log: log.With("component", "fakeha"), cert: cert, fp: binding.FingerprintOf(cert.Certificate[0]), devices: map[string]*device{}}
	h.cache = binding.NewCache(binding.Config{MaxLifetime: cfg.Lifetime, Logger: log})
	// The home agent's default: 10 control messages a second per device,
	// bursts of 20.
	h.limit = binding.NewLimiter(10, 20)
	rand.Read(h.wgPub[:])
	pc := cfg.Conn
	if pc == nil {
		var err error
		if pc, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.Listen)); err != nil {
			return nil, fmt.Errorf("clienttest: listening: %w", err)
		}
	}
	if err := h.serve(pc); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stopSweep, h.swept = cancel, make(chan struct{})
	go func() {
		defer close(h.swept)
		h.cache.Run(ctx)
	}()
	return h, nil
}

func (h *HomeAgent) listen(addr netip.AddrPort) error {
	if h.cfg.Conn != nil {
		return fmt.Errorf("clienttest: cannot restart on a socket handed in")
	}
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return fmt.Errorf("clienttest: listening: %w", err)
	}
	return h.serve(pc)
}

func (h *HomeAgent) serve(pc net.PacketConn) error {
	udp := &dropConn{PacketConn: pc, drop: &h.drop}
	tr := &quic.Transport{Conn: udp}
	ln, err := tr.Listen(binding.ServerTLSConfig(h.cert), &quic.Config{MaxIdleTimeout: 30 * time.Second})
	if err != nil {
		pc.Close()
		return fmt.Errorf("clienttest: listening: %w", err)
	}
	h.mu.Lock()
	h.addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	h.addr = netip.AddrPortFrom(h.addr.Addr().Unmap(), h.addr.Port())
	h.udp, h.tr, h.ln = udp, tr, ln
	h.wg.Add(1)
	h.mu.Unlock()
	go h.accept(ln)
	return nil
}

// Addr returns the address devices connect to.
func (h *HomeAgent) Addr() netip.AddrPort {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.addr
}

// Fingerprint returns the fake's certificate fingerprint.
func (h *HomeAgent) Fingerprint() [32]byte { return h.fp }

// WGPublicKey returns the WireGuard public key the fake announces.
func (h *HomeAgent) WGPublicKey() [32]byte { return h.wgPub }

// AddDevice creates a one-time enrolment token for a device called name.
func (h *HomeAgent) AddDevice(name string) (string, error) {
	t := &token{name: name}
	rand.Read(t.secret[:])
	h.mu.Lock()
	h.tokens = append(h.tokens, t)
	addr := h.addr
	h.mu.Unlock()
	return binding.EncodeToken(binding.Token{Addrs: []netip.AddrPort{addr}, Fingerprint: h.fp, Secret: t.secret})
}

// Binding returns a copy of the binding of the device called name.
func (h *HomeAgent) Binding(name string) (Binding, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range h.devices {
		if d.name != name {
			continue
		}
		cb, ok := h.cache.Lookup(d.id)
		if !ok {
			continue
		}
		b := Binding{
			Sequence: cb.Sequence, Lifetime: d.lifetime, Observed: d.observed, Via: d.via,
			Entries: map[uint16]binding.CareOf{}, PrimaryBID: cb.PrimaryBID, Updates: d.updates,
		}
		for _, e := range cb.Entries {
			b.Entries[e.BID] = binding.CareOf{BID: e.BID, Kind: e.Kind, Priority: e.Priority, Local: e.Local}
		}
		return b, true
	}
	return Binding{}, false
}

// VIPs returns the addresses leased to the device called name.
func (h *HomeAgent) VIPs(name string) (netip.Addr, netip.Addr, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range h.devices {
		if d.name == name {
			return d.vip4, d.vip6, true
		}
	}
	return netip.Addr{}, netip.Addr{}, false
}

// CopyDevicesFrom copies every enrolled device (keys, ids, leases) of
// other into h, as two home agents sharing one store would see them.
func (h *HomeAgent) CopyDevicesFrom(other *HomeAgent) {
	other.mu.Lock()
	var devs []*device
	for _, d := range other.devices {
		c := *d
		c.conn, c.stream, c.wmu = nil, nil, nil
		c.lifetime, c.observed, c.via, c.updates = 0, netip.AddrPort{}, 0, 0
		devs = append(devs, &c)
	}
	next := other.nextVIP
	other.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range devs {
		h.devices[d.id] = d
	}
	h.nextVIP = max(h.nextVIP, next)
}

// Registrations counts accepted Register messages.
func (h *HomeAgent) Registrations() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.regs
}

// Revoke marks the device called name as revoked, as the home agent does:
// its binding is removed, and its registrations and binding updates are
// refused with StatusRevoked from now on.
func (h *HomeAgent) Revoke(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range h.devices {
		if d.name == name {
			d.revoked = true
			h.cache.Remove(time.Now(), d.id)
		}
	}
}

// RegisterAttempts counts Register messages received, refused or not.
func (h *HomeAgent) RegisterAttempts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.regTry
}

// SetSequence overwrites the sequence number of a device's binding, as
// if it had sent updates the device forgot (a restored backup). The
// binding is rebuilt in the cache with that number, the same entries and
// the same primary care-of address; standby entries keep their kind and
// priority but count as not yet observed. A device without a binding has
// no number to overwrite (the cache accepts any number from it), and
// SetSequence then does nothing.
func (h *HomeAgent) SetSequence(name string, seq uint16) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for _, d := range h.devices {
		if d.name != name {
			continue
		}
		cb, ok := h.cache.Lookup(d.id)
		if !ok || !cb.Primary.IsValid() {
			continue
		}
		bu := &binding.BindingUpdate{
			Sequence: seq, Flags: binding.FlagOverwrite, Via: cb.PrimaryBID,
			Lifetime: max(cb.Expires.Sub(now).Truncate(time.Second), time.Second),
		}
		for _, e := range cb.Entries {
			bu.Entries = append(bu.Entries, binding.CareOf{BID: e.BID, Kind: e.Kind, Priority: e.Priority, Local: e.Local})
		}
		h.cache.Remove(now, d.id)
		if _, err := h.cache.Apply(now, d.id, bu, cb.Primary); err != nil {
			h.log.Error("setting sequence", "device", name, "err", err)
		}
	}
}

// RebindNAT makes the fake report port as the observed source port of
// every later message (0 turns it off), as if the device's NAT had given
// it a new mapping.
func (h *HomeAgent) RebindNAT(port uint16) { h.natPort.Store(uint32(port)) }

// Drop makes the fake drop every datagram in both directions while on
// (a silently dead path).
func (h *HomeAgent) Drop(on bool) { h.drop.Store(on) }

// Send sends m (e.g. a Switch) to the device called name on its current
// control stream.
func (h *HomeAgent) Send(name string, m binding.Message) error {
	h.mu.Lock()
	var d *device
	for _, x := range h.devices {
		if x.name == name {
			d = x
		}
	}
	if d == nil || d.stream == nil {
		h.mu.Unlock()
		return fmt.Errorf("clienttest: device %s not connected", name)
	}
	st, wmu := d.stream, d.wmu
	h.mu.Unlock()
	wmu.Lock()
	defer wmu.Unlock()
	return binding.WriteMessage(st, m)
}

// Restart stops the listener, closing every connection, and listens again
// on the same port. Devices and leases survive (hard state); bindings are
// forgotten (soft state), as after a home agent restart.
func (h *HomeAgent) Restart() error {
	h.mu.Lock()
	addr := h.addr
	now := time.Now()
	for _, d := range h.devices {
		d.conn, d.stream = nil, nil
		h.cache.Remove(now, d.id)
	}
	h.mu.Unlock()
	h.stop()
	return h.listen(addr)
}

func (h *HomeAgent) stop() {
	h.mu.Lock()
	ln, tr, udp := h.ln, h.tr, h.udp
	h.mu.Unlock()
	ln.Close()
	tr.Close()
	udp.Close()
	h.wg.Wait()
}

// Close stops the fake and waits for its goroutines. Idempotent.
func (h *HomeAgent) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	h.stop()
	h.stopSweep()
	<-h.swept
	return nil
}

func (h *HomeAgent) accept(ln *quic.Listener) {
	defer h.wg.Done()
	for {
		conn, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.serveConn(conn)
		}()
	}
}

func (h *HomeAgent) serveConn(conn *quic.Conn) {
	defer conn.CloseWithError(0, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	st, err := conn.AcceptStream(ctx)
	cancel()
	if err != nil {
		return
	}
	key, err := binding.PeerPublicKey(conn.ConnectionState().TLS)
	if err != nil {
		return
	}
	wmu := &sync.Mutex{}
	send := func(m binding.Message) error {
		wmu.Lock()
		defer wmu.Unlock()
		return binding.WriteMessage(st, m)
	}
	r := binding.NewReader(st, 0)
	var dev *device
	for {
		m, err := r.ReadMessage()
		if errors.Is(err, binding.ErrUnknownType) {
			continue
		}
		if err != nil {
			return
		}
		observed := conn.RemoteAddr().(*net.UDPAddr).AddrPort()
		observed = netip.AddrPortFrom(observed.Addr().Unmap(), observed.Port())
		if p := h.natPort.Load(); p != 0 {
			observed = netip.AddrPortFrom(observed.Addr(), uint16(p))
		}
		switch m := m.(type) {
		case *binding.Enroll:
			send(h.enroll(key, m))
		case *binding.Register:
			ack, d := h.register(key, m, conn, st, wmu)
			dev = d
			send(ack)
		case *binding.BindingUpdate:
			if ack := h.bind(dev, m, observed); ack != nil {
				send(ack)
			}
		case *binding.Heartbeat:
			send(&binding.HeartbeatAck{Nonce: m.Nonce, Time: m.Time, Observed: observed})
		case *binding.Deregister:
			send(h.deregister(dev, observed))
		}
	}
}

func (h *HomeAgent) enroll(key ed25519.PublicKey, m *binding.Enroll) *binding.EnrollAck {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.tokens {
		if t.secret != m.Token {
			continue
		}
		if t.used {
			return &binding.EnrollAck{Status: binding.StatusBadToken}
		}
		t.used = true
		id := fmt.Sprintf("dev-%d", len(h.devices)+1)
		h.nextVIP++
		h.devices[id] = &device{
			id: id, name: t.name, key: key, wgKey: m.WGPublicKey,
			vip4: netip.AddrFrom4([4]byte{192, 0, 2, byte(129 + h.nextVIP)}),
			vip6: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 15: byte(1 + h.nextVIP)}),
		}
		return &binding.EnrollAck{Status: binding.StatusAccepted, DeviceID: id, DeviceName: t.name}
	}
	return &binding.EnrollAck{Status: binding.StatusBadToken}
}

func (h *HomeAgent) register(key ed25519.PublicKey, m *binding.Register, conn *quic.Conn, st *quic.Stream, wmu *sync.Mutex) (*binding.RegisterAck, *device) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.regTry++
	var d *device
	for _, x := range h.devices {
		if x.key.Equal(key) {
			d = x
		}
	}
	if d == nil {
		return &binding.RegisterAck{Status: binding.StatusUnauthorized}, nil
	}
	if d.revoked {
		return &binding.RegisterAck{Status: binding.StatusRevoked}, nil
	}
	if m.DeviceID != "" && m.DeviceID != d.id {
		return &binding.RegisterAck{Status: binding.StatusUnauthorized}, nil
	}
	// The newest connection wins.
	if d.conn != nil && d.conn != conn {
		old := d.conn
		go old.CloseWithError(0, "superseded")
	}
	d.conn, d.stream, d.wmu, d.wgKey = conn, st, wmu, m.WGPublicKey
	h.regs++
	return &binding.RegisterAck{
		Status: binding.StatusAccepted, DeviceID: d.id, VIP4: d.vip4, VIP6: d.vip6,
		HATunnel4: netip.MustParseAddr("192.0.2.129"), HATunnel6: netip.MustParseAddr("2001:db8:100::1"),
		HAPublicKey: h.wgPub, DNS: []netip.Addr{netip.MustParseAddr("192.0.2.129")}, SearchDomain: "home.test",
		Routes: h.cfg.Routes, Lifetime: h.cfg.Lifetime, Keepalive: h.cfg.Keepalive, MTU: 1420,
	}, d
}

// bind applies an update to the binding cache, as the home agent does:
// only on a registered connection, never for a revoked device, the ack
// carrying the observed address; a successful update without FlagAck gets
// no ack (nil).
func (h *HomeAgent) bind(d *device, m *binding.BindingUpdate, observed netip.AddrPort) *binding.BindingAck {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d == nil {
		return &binding.BindingAck{Status: binding.StatusNotRegistered, Sequence: m.Sequence, Observed: observed}
	}
	if d.revoked {
		return &binding.BindingAck{Status: binding.StatusRevoked, Sequence: m.Sequence, Observed: observed}
	}
	if !h.limit.Allow(&d.tat, time.Now()) {
		return &binding.BindingAck{Status: binding.StatusRateLimited, Sequence: m.Sequence, Observed: observed}
	}
	_, had := h.cache.Lookup(d.id)
	ack, err := h.cache.Apply(time.Now(), d.id, m, observed)
	if err != nil {
		h.log.Debug("binding update refused", "device", d.name, "status", ack.Status.String(), "seq", m.Sequence)
		return &ack
	}
	if _, ok := h.cache.Lookup(d.id); ok {
		if !had {
			d.updates = 0
		}
		d.updates++
		d.lifetime, d.observed, d.via = ack.Lifetime, observed, m.Via
	}
	if m.Flags&binding.FlagAck == 0 {
		return nil
	}
	return &ack
}

// deregister drops the device's binding at its request, answering as the
// home agent does: with the sequence number the binding had, or
// StatusNotRegistered on a connection that did not register.
func (h *HomeAgent) deregister(d *device, observed netip.AddrPort) *binding.BindingAck {
	if d == nil {
		return &binding.BindingAck{Status: binding.StatusNotRegistered, Observed: observed}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b, _ := h.cache.Lookup(d.id)
	h.cache.Remove(time.Now(), d.id)
	return &binding.BindingAck{Status: binding.StatusAccepted, Sequence: b.Sequence, Observed: observed}
}

// dropConn drops every datagram while drop is set.
type dropConn struct {
	net.PacketConn
	drop *atomic.Bool
}

// ReadFrom implements net.PacketConn, swallowing datagrams while dropping.
func (c *dropConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, a, err := c.PacketConn.ReadFrom(p)
		if err != nil || !c.drop.Load() {
			return n, a, err
		}
	}
}

// WriteTo implements net.PacketConn; while dropping it pretends to send.
func (c *dropConn) WriteTo(p []byte, a net.Addr) (int, error) {
	if c.drop.Load() {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, a)
}
