package client_test

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/client/clienttest"
	"github.com/homeip/homeip/tunnel"
	"github.com/homeip/homeip/tunnel/tunneltest"
)

// fakeDP is tunneltest's in-memory data plane plus a real loopback UDP
// socket as the control side of the "shared" socket.
type fakeDP struct {
	*tunneltest.DataPlane
	pc net.PacketConn

	mu         sync.Mutex
	keepalives map[tunnel.Key]int // SendKeepalive calls per peer
}

// SendKeepalive records the call; an unknown peer is refused as
// tunnel.Device refuses it.
func (d *fakeDP) SendKeepalive(pub tunnel.Key) error {
	if _, ok := d.Peer(pub); !ok {
		return tunnel.ErrUnknownPeer
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.keepalives == nil {
		d.keepalives = map[tunnel.Key]int{}
	}
	d.keepalives[pub]++
	return nil
}

// Keepalives returns the number of SendKeepalive calls per peer.
func (d *fakeDP) Keepalives() map[tunnel.Key]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.keepalives)
}

func (d *fakeDP) ControlConn() net.PacketConn { return d.pc }

func (d *fakeDP) Close() error {
	d.pc.Close()
	return d.DataPlane.Close()
}

// fakeHost records what the node configures.
type fakeHost struct {
	tunnels chan client.TunnelConfig
	pins    chan string
	closed  chan struct{}
}

func newFakeHost() *fakeHost {
	return &fakeHost{tunnels: make(chan client.TunnelConfig, 100), pins: make(chan string, 100), closed: make(chan struct{})}
}

func (h *fakeHost) ConfigureTunnel(c client.TunnelConfig) error { h.tunnels <- c; return nil }
func (h *fakeHost) RouteHomeAgent(_ []netip.Addr, l client.Link) error {
	h.pins <- l.Name
	return nil
}
func (h *fakeHost) Close() error {
	select {
	case <-h.closed:
	default:
		close(h.closed)
	}
	return nil
}

type nodeEnv struct {
	t    testing.TB
	ha   *clienttest.HomeAgent
	dir  *client.StateDir
	dp   chan *fakeDP
	host *fakeHost
	w    *client.PushWatcher
	node *client.Node
	done chan error
	stop context.CancelFunc
}

// enroll creates a fake home agent and an enrolled state directory.
func enrollEnv(t testing.TB, hacfg clienttest.Config) *nodeEnv {
	t.Helper()
	ha := newHA(t, hacfg)
	tok, err := ha.AddDevice("phone")
	if err != nil {
		t.Fatal(err)
	}
	dir := newDir(t)
	if _, err := client.Enroll(context.Background(), dir, tok, client.EnrollOptions{}); err != nil {
		t.Fatal(err)
	}
	return &nodeEnv{t: t, ha: ha, dir: dir}
}

var (
	wifiLink = client.Interface{Index: 3, Name: "wlan0", Kind: client.KindWiFi, Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("198.51.100.10/25")}}
	cellLink = client.Interface{Index: 4, Name: "wwan0", Kind: client.KindCellular, Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("100.64.1.10/24")}}
)

func netState(ifs ...client.Interface) client.State {
	s := client.State{Interfaces: ifs}
	for _, i := range ifs {
		s.Routes = append(s.Routes, client.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("192.0.2.254"), Index: i.Index, Metric: 100 * i.Index})
	}
	return s
}

// start runs a node with a push watcher showing st.
func (e *nodeEnv) start(st client.State, tweak func(*client.Config)) {
	e.t.Helper()
	e.dp = make(chan *fakeDP, 4)
	e.host = newFakeHost()
	e.w = client.NewPushWatcher()
	e.w.Set(st)
	cfg := client.Config{
		StateDir: e.dir,
		NewDataPlane: func(c client.DataPlaneConfig) (client.DataPlane, error) {
			pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return nil, err
			}
			d := &fakeDP{DataPlane: tunneltest.New(), pc: pc}
			e.dp <- d
			return d, nil
		},
		Watcher:          e.w,
		Host:             e.host,
		TunnelName:       "homeip0",
		Keepalive:        client.KeepaliveConfig{Min: 50 * time.Millisecond, Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, Resolution: 20 * time.Millisecond},
		Backoff:          client.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		HeartbeatTimeout: 200 * time.Millisecond,
		HeartbeatRetries: 1,
		ConnectTimeout:   time.Second,
		SuspectFor:       time.Hour,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := client.NewNode(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.node = n
	ctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	done := make(chan error, 1)
	e.done = done
	go func() { done <- n.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			e.t.Error("node did not stop")
		}
	})
}

// waitFor polls the node's status until cond holds.
func (e *nodeEnv) waitFor(what string, cond func(client.Status) bool) client.Status {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := e.node.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; status %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func registered(s client.Status) bool { return s.State == "registered" }

func TestNodeRegistersAndConfigures(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink), nil)
	st := e.waitFor("registration", registered)
	vip4, vip6, _ := e.ha.VIPs("phone")
	if st.VIP4 != vip4 || st.VIP6 != vip6 || !vip4.IsValid() {
		t.Errorf("status VIPs %v %v, home agent leased %v %v", st.VIP4, st.VIP6, vip4, vip6)
	}
	if st.Interface != "wlan0" || st.InterfaceKind != "wifi" || st.HomeAgent != e.ha.Addr() || !st.CareOf.IsValid() {
		t.Errorf("status %+v", st)
	}
	dp := <-e.dp
	peer, ok := dp.Peer(tunnel.Key(e.ha.WGPublicKey()))
	if !ok {
		t.Fatal("home agent peer not configured")
	}
	if peer.Endpoint != e.ha.Addr() || peer.PersistentKeepalive != 0 {
		t.Errorf("peer %+v", peer.Peer)
	}
	want := map[netip.Prefix]bool{
		netip.MustParsePrefix("192.0.2.0/25"): true, netip.MustParsePrefix("2001:db8:1::/64"): true,
		netip.MustParsePrefix("192.0.2.129/32"): true, netip.MustParsePrefix("2001:db8:100::1/128"): true,
	}
	if len(peer.AllowedIPs) != len(want) {
		t.Errorf("allowed IPs %v", peer.AllowedIPs)
	}
	for _, p := range peer.AllowedIPs {
		if !want[p] {
			t.Errorf("unexpected allowed IP %v", p)
		}
	}
	tc := <-e.host.tunnels
	if len(tc.Addresses) != 2 || tc.Addresses[0] != netip.PrefixFrom(vip4, 32) || tc.Addresses[1] != netip.PrefixFrom(vip6, 128) {
		t.Errorf("tunnel addresses %v", tc.Addresses)
	}
	if pin := <-e.host.pins; pin != "wlan0" {
		t.Errorf("home agent routed through %q", pin)
	}
	b, ok := e.ha.Binding("phone")
	if !ok || b.Via != 3 || len(b.Entries) != 1 || b.Entries[3].Kind != binding.KindWiFi {
		t.Errorf("binding %+v", b)
	}
	if b.Sequence != st.Seq {
		t.Errorf("home agent has seq %d, node %d", b.Sequence, st.Seq)
	}

	// mnode down: deregisters, removes the host configuration, closes the
	// data plane.
	e.node.Down()
	if err := <-e.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	e.done <- nil
	if _, ok := e.ha.Binding("phone"); ok {
		t.Error("binding still there after down")
	}
	if !dp.Closed() {
		t.Error("data plane not closed")
	}
	select {
	case <-e.host.closed:
	default:
		t.Error("host configuration not removed")
	}
	saved, err := e.dir.Load()
	if err != nil || saved.Config == nil || saved.Config.VIP4 != vip4 || saved.Sequence != st.Seq {
		t.Errorf("saved state %+v %v", saved, err)
	}
}

func TestNodeHandover(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink), nil)
	st0 := e.waitFor("registration", registered)
	dp := <-e.dp
	regs := e.ha.Registrations()

	// Both links: cellular becomes the standby entry, no handover.
	e.w.Set(netState(wifiLink, cellLink))
	e.waitFor("standby", func(s client.Status) bool { return s.Standby == "wwan0" })
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := e.ha.Binding("phone")
		if len(b.Entries) == 2 && b.Via == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby entry not registered: %+v", b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if dp.Rebinds() != 0 {
		t.Errorf("standby change rebound the data plane")
	}

	// Wi-Fi goes away: rebind, new connection, binding update via cellular.
	e.w.Set(netState(cellLink))
	st := e.waitFor("handover", func(s client.Status) bool { return s.Handovers == 1 && s.State == "registered" })
	if st.Interface != "wwan0" || st.Standby != "" || st.LastHandoverMs <= 0 || st.Seq == st0.Seq {
		t.Errorf("after handover: %+v", st)
	}
	if dp.Rebinds() != 1 {
		t.Errorf("%d rebinds, want 1", dp.Rebinds())
	}
	if e.ha.Registrations() != regs+1 {
		t.Errorf("handover did not open a new registration (%d -> %d)", regs, e.ha.Registrations())
	}
	b, _ := e.ha.Binding("phone")
	if b.Via != 4 || len(b.Entries) != 1 || b.Entries[4].Kind != binding.KindCellular || b.Sequence != st.Seq {
		t.Errorf("binding after handover %+v", b)
	}
	t.Logf("handover took %.2f ms on loopback", st.LastHandoverMs)

	// Subnet change on the same link is a handover too.
	renum := cellLink
	renum.Addrs = []netip.Prefix{netip.MustParsePrefix("100.64.2.10/24")}
	e.w.Set(netState(renum))
	e.waitFor("second handover", func(s client.Status) bool { return s.Handovers == 2 })

	// No link at all, then back.
	e.w.Set(client.State{})
	e.waitFor("no link", func(s client.Status) bool { return s.State == "no-link" })
	e.w.Set(netState(wifiLink))
	st = e.waitFor("back on wifi", func(s client.Status) bool { return s.State == "registered" && s.Interface == "wlan0" })
	if st.VIP4 != st0.VIP4 || st.VIP6 != st0.VIP6 {
		t.Errorf("VIPs changed: %v %v -> %v %v", st0.VIP4, st0.VIP6, st.VIP4, st.VIP6)
	}
}

func TestNodeReconnectsAfterHomeAgentRestart(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink), nil)
	st0 := e.waitFor("registration", registered)
	if err := e.ha.Restart(); err != nil {
		t.Fatal(err)
	}
	st := e.waitFor("re-registration", func(s client.Status) bool { return s.Reconnects >= 1 && s.State == "registered" })
	if st.VIP4 != st0.VIP4 || st.VIP6 != st0.VIP6 {
		t.Errorf("VIPs changed across a home agent restart")
	}
	if _, ok := e.ha.Binding("phone"); !ok {
		t.Error("no binding after re-registration")
	}
}

func TestNodeResynchronisesStaleSequence(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink), nil)
	e.waitFor("registration", registered)
	// The home agent holds a number far ahead (the device restored an old
	// state directory): the next update is stale and the node continues
	// from the home agent's number after one more round trip.
	e.ha.SetSequence("phone", 1000)
	e.w.Set(netState(cellLink))
	st := e.waitFor("handover", func(s client.Status) bool { return s.Handovers == 1 && s.State == "registered" })
	if st.Seq != 1001 {
		t.Errorf("seq after resync %d, want 1001", st.Seq)
	}
	if b, _ := e.ha.Binding("phone"); b.Sequence != 1001 || b.Via != 4 {
		t.Errorf("binding %+v", b)
	}
}

func TestNodeRestartKeepsVIPs(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink), nil)
	st0 := e.waitFor("registration", registered)
	e.node.Down()
	if err := <-e.done; err != nil {
		t.Fatal(err)
	}
	e.done <- nil
	e.start(netState(wifiLink), nil)
	// The saved configuration comes up before the home agent answers.
	st := e.waitFor("registration", registered)
	if st.VIP4 != st0.VIP4 || st.VIP6 != st0.VIP6 || st.Seq <= st0.Seq {
		t.Errorf("after restart: %+v (before %+v)", st, st0)
	}
}

func TestNodeFailsOverOnDeadPath(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink, cellLink), nil)
	e.waitFor("registration", registered)
	// The home agent stops answering: heartbeats fail, the node avoids
	// wlan0 and moves to wwan0; the path is still dead, so it keeps
	// trying until the home agent answers again.
	dp := <-e.dp
	ha := haPeer(t, dp)
	e.ha.Drop(true)
	e.waitFor("failover attempt", func(s client.Status) bool { return s.Interface == "wwan0" })
	e.ha.Drop(false)
	st := e.waitFor("registered on cellular", func(s client.Status) bool { return s.State == "registered" && s.Interface == "wwan0" })
	if b, _ := e.ha.Binding("phone"); b.Via != 4 {
		t.Errorf("binding via %d after failover, want 4 (wwan0): %+v", b.Via, st)
	}
	// wlan0 is still up but its path is dead: the failover is announced
	// to the home agent's peer as a move off a link that is gone.
	if n := dp.Keepalives()[ha]; n < 2 {
		t.Errorf("%d keepalives to the home agent after failing over from a dead path, want at least 2", n)
	}
}

func TestNodeReconnectsOnDeadPathWithoutStandby(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink), nil)
	e.waitFor("registration", registered)
	e.ha.Drop(true)
	e.waitFor("dead path noticed", func(s client.Status) bool { return s.State != "registered" })
	e.ha.Drop(false)
	e.waitFor("re-registered", func(s client.Status) bool { return s.State == "registered" && s.Reconnects >= 1 })
}

func TestNodeSwitchesHomeAgent(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink), nil)
	e.waitFor("registration", registered)
	// A home agent that does not know the device: the node stays with
	// the current one.
	stranger := newHA(t, clienttest.Config{})
	if err := e.ha.Send("phone", &binding.Switch{Addrs: []netip.AddrPort{stranger.Addr()}, Fingerprint: stranger.Fingerprint(), Reason: binding.SwitchMaintenance}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for stranger.RegisterAttempts() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := e.waitFor("still registered", registered)
	if st.HomeAgent != e.ha.Addr() {
		t.Errorf("moved to a home agent that refused the device: %+v", st)
	}

	// A second home agent sharing the device registry (one store): the
	// node moves there, keeps its VIPs and pins the new fingerprint.
	ha2 := newHA(t, clienttest.Config{})
	ha2.CopyDevicesFrom(e.ha)
	if err := e.ha.Send("phone", &binding.Switch{Addrs: []netip.AddrPort{ha2.Addr()}, Fingerprint: ha2.Fingerprint(), Reason: binding.SwitchShutdown}); err != nil {
		t.Fatal(err)
	}
	st2 := e.waitFor("switched", func(s client.Status) bool { return s.State == "registered" && s.HomeAgent == ha2.Addr() })
	if st2.VIP4 != st.VIP4 || st2.VIP6 != st.VIP6 {
		t.Errorf("VIPs changed across a switch: %v %v -> %v %v", st.VIP4, st.VIP6, st2.VIP4, st2.VIP6)
	}
	if b, ok := ha2.Binding("phone"); !ok || b.Via != 3 {
		t.Errorf("binding at the new home agent: %+v %v", b, ok)
	}
	saved, err := e.dir.Load()
	if err != nil || saved.HomeAgent.Addrs[0] != ha2.Addr() || saved.HomeAgent.Fingerprint != client.Fingerprint(ha2.Fingerprint()) {
		t.Errorf("new home agent not persisted: %+v %v", saved.HomeAgent, err)
	}
}

func TestNodeRevoked(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink), nil)
	e.waitFor("registration", registered)
	if err := e.ha.Send("phone", &binding.Deregister{Status: binding.StatusRevoked, Reason: "lost phone"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-e.done:
		if !errors.Is(err, client.ErrRevoked) {
			t.Errorf("Run returned %v, want ErrRevoked", err)
		}
		e.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("node kept running after revocation")
	}
}

func TestNodeNotEnrolled(t *testing.T) {
	n, err := client.NewNode(client.Config{StateDir: newDir(t), NewDataPlane: func(client.DataPlaneConfig) (client.DataPlane, error) {
		t.Error("data plane created for an unenrolled device")
		return nil, errors.New("no")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Run(context.Background()); !errors.Is(err, client.ErrNotEnrolled) {
		t.Errorf("Run: %v", err)
	}
}

func TestNodeDataPlaneError(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	want := errors.New("tun: operation not permitted")
	n, err := client.NewNode(client.Config{StateDir: e.dir, NewDataPlane: func(client.DataPlaneConfig) (client.DataPlane, error) { return nil, want }})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Run(context.Background()); !errors.Is(err, want) {
		t.Errorf("Run: %v", err)
	}
	// The directory lock was released.
	unlock, err := e.dir.Lock()
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}

func TestNodeStopsWhenRevokedAtRegistration(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.ha.Revoke("phone")
	e.start(netState(wifiLink), nil)
	select {
	case err := <-e.done:
		if !errors.Is(err, client.ErrRevoked) {
			t.Errorf("Run returned %v, want ErrRevoked", err)
		}
		e.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("node kept retrying a revoked registration")
	}
}

func TestNodeRefreshesBeforeLifetimeEnds(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{Lifetime: 2 * time.Second})
	e.start(netState(wifiLink), nil)
	st := e.waitFor("registration", registered)
	if st.LifetimeS != 2 {
		t.Errorf("granted lifetime %v s, want 2", st.LifetimeS)
	}
	b0, _ := e.ha.Binding("phone")
	// Refreshes come at two thirds of the lifetime: two within 3 s.
	e.waitFor("two refreshes", func(s client.Status) bool { return s.Seq >= st.Seq+2 })
	b1, _ := e.ha.Binding("phone")
	if b1.Updates < b0.Updates+2 || b1.Sequence != e.node.Status().Seq && b1.Sequence+1 != e.node.Status().Seq {
		t.Errorf("home agent saw %d updates (seq %d), node at seq %d", b1.Updates, b1.Sequence, e.node.Status().Seq)
	}
}

func TestNodeKeepaliveFollowsNATRebinding(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{Keepalive: 100 * time.Millisecond})
	e.start(netState(wifiLink), nil)
	st0 := e.waitFor("registration", registered)
	// This home agent answers no idle probes, so nothing is proven: the
	// live path stays at the unproven interval, bounded by the tests'
	// maximum (400 ms).
	st := e.waitFor("a heartbeat", func(s client.Status) bool { return s.RTTms > 0 })
	if st.KeepaliveS != 0.4 || st.KeepaliveLearned {
		t.Errorf("keepalive %v s (learned %v), want 0.4 s unlearned", st.KeepaliveS, st.KeepaliveLearned)
	}
	// The NAT gives the device a new public port: the next heartbeat
	// notices and the node sends a binding update at once.
	e.ha.RebindNAT(4242)
	st = e.waitFor("binding update after NAT rebinding", func(s client.Status) bool { return s.CareOf.Port() == 4242 })
	if st.Seq == st0.Seq || st.Handovers != 0 {
		t.Errorf("after NAT rebinding: %+v", st)
	}
	// The live mapping was lost at an interval nothing proved: the live
	// path falls to the minimum until the probe socket proves more.
	st = e.waitFor("keepalive lowered", func(s client.Status) bool { return s.KeepaliveS < 0.4 })
	if st.KeepaliveS != 0.05 || st.KeepaliveLearned {
		t.Errorf("after a lost mapping: keepalive %v s (learned %v), want 0.05 s", st.KeepaliveS, st.KeepaliveLearned)
	}
}

func TestNodeDownWhileHomeAgentUnreachable(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.ha.Drop(true)
	e.start(netState(wifiLink), func(c *client.Config) { c.ConnectTimeout = 30 * time.Second })
	e.waitFor("connecting", func(s client.Status) bool { return s.State == "connecting" })
	start := time.Now()
	e.node.Down()
	select {
	case err := <-e.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		e.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("Down did not interrupt a connection attempt")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Down took %v", d)
	}
}

// stallTweak gives the node a keepalive far longer than the tests, so
// only stall detection can notice a dead path in time.
func stallTweak(c *client.Config) {
	c.Keepalive = client.KeepaliveConfig{Min: 30 * time.Second, Initial: 30 * time.Second, Max: time.Minute}
	c.HeartbeatTimeout = 0
}

// downlink simulates a stream received through the tunnel: the home
// agent peer's byte counters grow every 10 ms (and a little upstream, as
// a TCP receiver's acknowledgements) until the returned stop is called.
func downlink(t *testing.T, dp *fakeDP, peer tunnel.Key) (stop func()) {
	t.Helper()
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var rx, tx uint64
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				rx, tx = rx+1400, tx+60
				if !dp.SetStatus(peer, time.Now(), rx, tx) {
					t.Error("home agent peer not configured")
					return
				}
			}
		}
	}()
	var once bool
	stop = func() {
		if !once {
			once = true
			close(done)
			<-exited
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestNodeFailsOverFastWhenFlowingTrafficStalls(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink, cellLink), stallTweak)
	e.waitFor("registration", registered)
	dp := <-e.dp
	stop := downlink(t, dp, tunnel.Key(e.ha.WGPublicKey()))
	// Let the downlink be seen as active, then the Wi-Fi path goes
	// silent: nothing passes either way, the link stays up.
	time.Sleep(300 * time.Millisecond)
	e.ha.Drop(true)
	stop()
	dropped := time.Now()
	st := e.waitFor("failover to cellular", func(s client.Status) bool { return s.Interface == "wwan0" })
	took := time.Since(dropped)
	t.Logf("failed over %v after the path went silent", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("failover took %v, want at most 1 s (keepalive interval %.0f s)", took, st.KeepaliveS)
	}
	if st.StallProbes != 1 || st.StallFalseAlarms != 0 {
		t.Errorf("stall probes %d, false alarms %d; want 1 and 0", st.StallProbes, st.StallFalseAlarms)
	}
	e.ha.Drop(false)
	e.waitFor("registered on cellular", func(s client.Status) bool { return s.State == "registered" && s.Interface == "wwan0" })
	if b, _ := e.ha.Binding("phone"); b.Via != 4 {
		t.Errorf("binding via %d after failover, want 4 (wwan0)", b.Via)
	}
}

func TestNodeProbesOnceWhenTrafficStopsOnHealthyPath(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink, cellLink), stallTweak)
	e.waitFor("registration", registered)
	dp := <-e.dp
	stop := downlink(t, dp, tunnel.Key(e.ha.WGPublicKey()))
	time.Sleep(300 * time.Millisecond)
	stop()
	e.waitFor("the probe answered", func(s client.Status) bool { return s.StallFalseAlarms == 1 })
	// The path is idle now: the node must not probe again nor move.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		st := e.node.Status()
		if st.StallProbes > 1 || st.Interface != "wlan0" || st.Handovers != 0 || st.State != "registered" {
			t.Fatalf("idle healthy path: %d probes, interface %s, %d handovers, state %s; want 1, wlan0, 0, registered",
				st.StallProbes, st.Interface, st.Handovers, st.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodeRebindsWhenNATForgetsMappingUnderTraffic: the NAT in front of
// the node forgets its mapping while a receive-only downlink flows. The
// downlink stalls, the stall probe is answered from the new public
// address, and the node updates its binding at once (not at its next
// keepalive), counting a NAT rebinding rather than a false alarm.
func TestNodeRebindsWhenNATForgetsMappingUnderTraffic(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink), stallTweak)
	st := e.waitFor("registration", registered)
	before, _ := e.ha.Binding("phone")
	dp := <-e.dp
	stop := downlink(t, dp, tunnel.Key(e.ha.WGPublicKey()))
	time.Sleep(300 * time.Millisecond)
	newPort := st.CareOf.Port() + 1
	e.ha.RebindNAT(newPort)
	stop()
	st = e.waitFor("binding moved to the new mapping", func(s client.Status) bool { return s.CareOf.Port() == newPort })
	if st.NATRebinds != 1 || st.StallProbes != 1 || st.StallFalseAlarms != 0 {
		t.Errorf("NAT rebinds %d, stall probes %d, false alarms %d; want 1, 1, 0", st.NATRebinds, st.StallProbes, st.StallFalseAlarms)
	}
	if b, _ := e.ha.Binding("phone"); b.Observed.Port() != newPort || b.Sequence == before.Sequence {
		t.Errorf("home agent's binding %+v, want a new update from port %d", b, newPort)
	}
	if st.Handovers != 0 || st.Interface != "wlan0" {
		t.Errorf("%d handovers, interface %s: a NAT rebinding is not a move", st.Handovers, st.Interface)
	}
}

func TestNodeStallDetectionDisabled(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink, cellLink), func(c *client.Config) {
		stallTweak(c)
		c.Stall.Disable = true
	})
	e.waitFor("registration", registered)
	dp := <-e.dp
	stop := downlink(t, dp, tunnel.Key(e.ha.WGPublicKey()))
	time.Sleep(300 * time.Millisecond)
	e.ha.Drop(true)
	stop()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if st := e.node.Status(); st.StallProbes != 0 || st.Interface != "wlan0" {
			t.Fatalf("with stall detection off: %d probes, interface %s", st.StallProbes, st.Interface)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodePathMTU: the node limits what it sends to the home agent to
// what its path carries. On a Wi-Fi interface of MTU 1280 it starts at
// that interface's bound (1280 - 20 - 8 - 32 = 1220 toward an IPv4 home
// agent) and keeps it after QUIC's path MTU discovery on loopback
// concludes at quic-go's own ceiling; on a link of unknown MTU it sets no
// limit of the path's own; back on the same Wi-Fi it starts from what it
// found there.
func TestNodePathMTU(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	wifi := wifiLink
	wifi.MTU = 1280
	e.start(netState(wifi), nil)
	e.waitFor("registration", registered)
	dp := <-e.dp
	ha := tunnel.Key(e.ha.WGPublicKey())
	st := e.waitFor("path MTU from the interface, then discovered", func(s client.Status) bool {
		return s.PathMTU == 1220 && s.PathMTUSource == client.MTUFromSearch
	})
	if p, ok := dp.Peer(ha); !ok || p.MTU != 1220 {
		t.Fatalf("home agent peer MTU %d (present %v), want 1220", p.MTU, ok)
	}
	t.Logf("on Wi-Fi: %d (%s)", st.PathMTU, st.PathMTUSource)

	e.w.Set(netState(cellLink))
	e.waitFor("on cellular", func(s client.Status) bool { return s.State == "registered" && s.Interface == "wwan0" })
	st = e.waitFor("no limit of the path's own", func(s client.Status) bool { return s.PathMTU == tunnel.DefaultMTU })
	if p, _ := dp.Peer(ha); p.MTU != 0 {
		t.Fatalf("home agent peer MTU %d on a link of unknown MTU, want 0 (the interface's)", p.MTU)
	}

	e.w.Set(netState(wifi))
	st = e.waitFor("back on Wi-Fi", func(s client.Status) bool { return s.State == "registered" && s.Interface == "wlan0" })
	if st.PathMTU != 1220 || (st.PathMTUSource != client.MTUFromMemory && st.PathMTUSource != client.MTUFromSearch) {
		t.Fatalf("back on Wi-Fi: path MTU %d (%s), want 1220 remembered (or already discovered again)", st.PathMTU, st.PathMTUSource)
	}
}

// haPeer returns the one WireGuard peer the node configured: the home
// agent's.
func haPeer(t *testing.T, dp *fakeDP) tunnel.Key {
	t.Helper()
	ps, err := dp.Peers()
	if err != nil || len(ps) != 1 {
		t.Fatalf("peers %+v, %v; want the home agent's", ps, err)
	}
	return ps[0].PublicKey
}

func TestNodeAnnouncesMoveWhenOldLinkIsGone(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	e.start(netState(wifiLink), nil)
	e.waitFor("registration", registered)
	dp := <-e.dp
	ha := haPeer(t, dp)
	if n := dp.Keepalives()[ha]; n != 0 {
		t.Fatalf("%d keepalives before any move", n)
	}

	// Wi-Fi goes away: the home agent's peer gets keepalives from the
	// new path, before the binding update.
	e.w.Set(netState(cellLink))
	e.waitFor("handover to cellular", func(s client.Status) bool { return s.Handovers == 1 && registered(s) })
	ka := dp.Keepalives()
	if ka[ha] != 2 || len(ka) != 1 {
		t.Errorf("after losing Wi-Fi: keepalives %v, want 2 to the home agent %s", ka, ha)
	}

	// Wi-Fi comes back while cellular still works: make-before-break,
	// the binding update alone moves the home agent.
	e.w.Set(netState(wifiLink, cellLink))
	e.waitFor("handover to Wi-Fi", func(s client.Status) bool { return s.Handovers == 2 && registered(s) && s.Interface == "wlan0" })
	if n := dp.Keepalives()[ha]; n != 2 {
		t.Errorf("moving off a link that still works sent keepalives: %d in all, want the earlier 2", n)
	}

	// Wi-Fi goes away again with cellular the standby: announced again.
	e.w.Set(netState(cellLink))
	e.waitFor("failover to the standby", func(s client.Status) bool { return s.Handovers == 3 && registered(s) })
	if n := dp.Keepalives()[ha]; n != 4 {
		t.Errorf("after losing Wi-Fi with a standby: %d keepalives in all, want 4", n)
	}
}
