package homeagent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/homeagent/adminapi"
	"github.com/homeip/homeip/homeagent/config"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/bboltstore"
	"github.com/homeip/homeip/tunnel"
	"github.com/homeip/homeip/tunnel/tunneltest"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testHA is a home agent on loopback with a fake data plane and a real
// bbolt store in dir.
type testHA struct {
	t      testing.TB
	dir    string
	srv    *Server
	dp     *tunneltest.DataPlane
	st     *bboltstore.Store
	addr   netip.AddrPort
	clock  *fakeClock
	admin  *adminapi.Client
	cancel context.CancelFunc
	done   chan error
	cfg    config.Config
}

func labConfig(dir string) config.Config {
	return config.Config{
		DataDir:     dir,
		AdminSocket: filepath.Join(dir, "ha.sock"),
		Pool4:       []netip.Prefix{netip.MustParsePrefix("192.0.2.128/25")},
		Pool6:       []netip.Prefix{netip.MustParsePrefix("2001:db8:100::/64")},
		Tunnel4:     netip.MustParseAddr("192.0.2.129"),
		Tunnel6:     netip.MustParseAddr("2001:db8:100::1"),
		Routes:      []netip.Prefix{netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("2001:db8:1::/64")},
		DNSDisabled: true,
		Lifetime:    time.Minute,
		Keepalive:   10 * time.Second,
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("HOMEIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// startHA starts a home agent on dir with cfg (its listen address is
// replaced by a fresh loopback socket). clock may be nil.
func startHA(t testing.TB, dir string, cfg config.Config, clock *fakeClock) *testHA {
	t.Helper()
	return startHAWith(t, dir, cfg, clock, haSeams{})
}

// haSeams replace parts of a test home agent; the zero value changes
// nothing.
type haSeams struct {
	// dp wraps the fake data plane the server sees.
	dp func(*tunneltest.DataPlane) tunnel.DataPlane
	// st wraps the store the server sees.
	st func(store.Store) store.Store
	// log is the server's logger.
	log *slog.Logger
}

// startHAWith is startHA with seams.
func startHAWith(t testing.TB, dir string, cfg config.Config, clock *fakeClock, seams haSeams) *testHA {
	t.Helper()
	if clock == nil {
		clock = &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	cfg.Listen = addr
	cfg.DataDir = dir
	cfg.AdminSocket = filepath.Join(dir, "ha.sock")
	cfg.PublicAddrs = []netip.AddrPort{addr}
	cfg = cfg.WithDefaults()
	id, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := bboltstore.Open(filepath.Join(dir, "store.db"), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dp := tunneltest.New()
	var sdp tunnel.DataPlane = dp
	if seams.dp != nil {
		sdp = seams.dp(dp)
	}
	var sst store.Store = st
	if seams.st != nil {
		sst = seams.st(st)
	}
	log := seams.log
	if log == nil {
		log = testLogger(t)
	}
	srv, err := New(Options{Config: cfg, Identity: id, Store: sst, DataPlane: sdp, ControlConn: pc, Logger: log, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &testHA{t: t, dir: dir, srv: srv, dp: dp, st: st, addr: addr, clock: clock, cancel: cancel,
		done: make(chan error, 1), admin: adminapi.NewClient(cfg.AdminSocket), cfg: cfg}
	go func() { h.done <- srv.Run(ctx) }()
	// Ready when the admin socket answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := h.admin.Pool(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("home agent did not become ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(h.stop)
	return h
}

// stop shuts the home agent down and closes what it used. Idempotent.
func (h *testHA) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		h.t.Error("Run did not return")
	}
	h.st.Close()
	h.dp.Close()
	h.srv.pc.Close()
}

// testDevice is a mobile node's identity.
type testDevice struct {
	key  ed25519.PrivateKey
	cert tls.Certificate
	wg   tunnel.Key
}

func newDevice(t testing.TB) *testDevice {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := binding.SelfSignedCert(priv, "device")
	if err != nil {
		t.Fatal(err)
	}
	wg, err := tunnel.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &testDevice{key: priv, cert: cert, wg: wg}
}

// testConn is one control connection of a device, from its own UDP socket
// (a new socket is a new care-of address:port).
type testConn struct {
	t      testing.TB
	pc     *net.UDPConn
	conn   *quic.Conn
	stream *quic.Stream
	r      *binding.Reader
	local  netip.AddrPort
}

func (h *testHA) dial(dev *testDevice) *testConn {
	h.t.Helper()
	return h.dialWith(dev, &quic.Config{MaxIdleTimeout: 30 * time.Second})
}

// dialWith is dial with the client's QUIC configuration.
func (h *testHA) dialWith(dev *testDevice, qc *quic.Config) *testConn {
	h.t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tlsc := binding.ClientTLSConfig(dev.cert, h.srv.id.Fingerprint, "")
	conn, err := quic.Dial(ctx, pc, net.UDPAddrFromAddrPort(h.addr), tlsc, qc)
	if err != nil {
		pc.Close()
		h.t.Fatalf("dial: %v", err)
	}
	stream, err := conn.OpenStreamSync(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	c := &testConn{t: h.t, pc: pc, conn: conn, stream: stream, r: binding.NewReader(stream, 0), local: pc.LocalAddr().(*net.UDPAddr).AddrPort()}
	h.t.Cleanup(c.close)
	return c
}

func (c *testConn) close() {
	c.conn.CloseWithError(0, "")
	c.pc.Close()
}

func (c *testConn) send(m binding.Message) {
	c.t.Helper()
	if err := binding.WriteMessage(c.stream, m); err != nil {
		c.t.Fatalf("send %T: %v", m, err)
	}
}

// recv reads the next message, failing after a timeout.
func (c *testConn) recv() (binding.Message, error) {
	c.stream.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c.r.ReadMessage()
}

func recvAs[T binding.Message](c *testConn) T {
	c.t.Helper()
	m, err := c.recv()
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	v, ok := m.(T)
	if !ok {
		var zero T
		c.t.Fatalf("got %T %+v, want %T", m, m, zero)
	}
	return v
}

// expectClosed waits until the home agent closed the connection.
func (c *testConn) expectClosed() {
	c.t.Helper()
	for {
		_, err := c.recv()
		if err == nil {
			continue
		}
		var appErr *quic.ApplicationError
		if errors.As(err, &appErr) || errors.Is(err, io.EOF) {
			return
		}
		c.t.Fatalf("waiting for close: %v", err)
	}
}

// enrol adds a device called name through the admin API and redeems its
// token from dev.
func (h *testHA) enrol(name string, dev *testDevice) (*testConn, *binding.EnrollAck) {
	h.t.Helper()
	res, err := h.admin.AddDevice(name)
	if err != nil {
		h.t.Fatal(err)
	}
	tok, err := binding.ParseToken(res.Token)
	if err != nil {
		h.t.Fatal(err)
	}
	if tok.Fingerprint != h.srv.id.Fingerprint || len(tok.Addrs) != 1 || tok.Addrs[0] != h.addr {
		h.t.Fatalf("token %v", tok)
	}
	c := h.dial(dev)
	c.send(&binding.Enroll{Token: tok.Secret, WGPublicKey: dev.wg.PublicKey(), Hostname: name})
	return c, recvAs[*binding.EnrollAck](c)
}

func (c *testConn) register(dev *testDevice) *binding.RegisterAck {
	c.t.Helper()
	c.send(&binding.Register{WGPublicKey: dev.wg.PublicKey(), Lifetime: 30 * time.Second, Software: "test"})
	return recvAs[*binding.RegisterAck](c)
}

func (c *testConn) bind(seq uint16) *binding.BindingAck {
	c.t.Helper()
	c.send(&binding.BindingUpdate{Sequence: seq, Flags: binding.FlagAck | binding.FlagHome, Lifetime: 30 * time.Second, Via: 1,
		Entries: []binding.CareOf{{BID: 1, Kind: binding.KindWiFi, Priority: 10, Local: c.local}}})
	return recvAs[*binding.BindingAck](c)
}

func mustPeer(t testing.TB, dp *tunneltest.DataPlane, dev *testDevice) tunnel.PeerStatus {
	t.Helper()
	p, ok := dp.Peer(dev.wg.PublicKey())
	if !ok {
		t.Fatal("no peer for the device")
	}
	return p
}

func fmtPrefixes(ps []netip.Prefix) string { return fmt.Sprint(ps) }
