package mobile

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/client/clienttest"
	"github.com/homeip/homeip/tunnel"
	"github.com/homeip/homeip/tunnel/tunneltest"
)

// recorder is a Callbacks that records what the node reports.
type recorder struct {
	mu       sync.Mutex
	states   []string
	statuses []string
	logs     []string
	fds      []int
	refuse   bool
	changed  chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) StateChanged(state, statusJSON string) {
	r.mu.Lock()
	r.states = append(r.states, state)
	r.statuses = append(r.statuses, statusJSON)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) Log(level int, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, line)
}

func (r *recorder) Protect(fd int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fds = append(r.fds, fd)
	return !r.refuse
}

func (r *recorder) snapshot() (states, statuses, logs []string, fds []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.states...), append([]string(nil), r.statuses...), append([]string(nil), r.logs...), append([]int(nil), r.fds...)
}

// fakeDP is tunneltest's in-memory data plane plus a loopback UDP socket
// as the shared socket, opened through the SocketHook like the real one.
// It owns the TUN descriptor it is given, as tunnel.New does.
type fakeDP struct {
	*tunneltest.DataPlane
	pc    net.PacketConn
	tunFD int
	once  sync.Once
	shut  chan struct{}
}

func (d *fakeDP) ControlConn() net.PacketConn { return d.pc }
func (d *fakeDP) InterfaceName() string       { return "tun-fake" }

func (d *fakeDP) Close() error {
	d.once.Do(func() {
		d.pc.Close()
		syscall.Close(d.tunFD)
		close(d.shut)
	})
	return d.DataPlane.Close()
}

// fakeDPs creates fakeDPs and hands each to the test.
type fakeDPs struct {
	made chan *fakeDP
	cfgs chan tunnel.Config
}

func newFakeDPs() *fakeDPs {
	return &fakeDPs{made: make(chan *fakeDP, 4), cfgs: make(chan tunnel.Config, 4)}
}

func (f *fakeDPs) new(c tunnel.Config) (client.DataPlane, error) {
	f.cfgs <- c
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var herr error
		if err := rc.Control(func(fd uintptr) {
			if c.SocketHook != nil {
				herr = c.SocketHook(int(fd))
			}
		}); err != nil {
			return err
		}
		return herr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		syscall.Close(c.TUNFD)
		return nil, err
	}
	d := &fakeDP{DataPlane: tunneltest.New(), pc: pc, tunFD: c.TUNFD, shut: make(chan struct{})}
	f.made <- d
	return d, nil
}

// appTUN stands in for the descriptor the OS gives the app.
func appTUN(t *testing.T) int {
	t.Helper()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

// enrolled returns a fake home agent and a state directory enrolled with
// it (Enroll, as the app calls it).
func enrolled(t *testing.T) (*clienttest.HomeAgent, string) {
	t.Helper()
	ha, err := clienttest.New(clienttest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ha.Close() })
	tok, err := ha.AddDevice("phone")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := EnrollAs(tok, dir, "test-phone"); err != nil {
		t.Fatal(err)
	}
	return ha, dir
}

// waitState waits until the node reports a status for which cond holds.
func waitState(t *testing.T, n *Node, what string, cond func(*Status) bool) *Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := n.StatusInfo()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; status %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStartMoveStop(t *testing.T) {
	ha, dir := enrolled(t)
	rec := newRecorder()
	dps := newFakeDPs()
	tun := appTUN(t)
	n, err := start(dir, tun, &Options{LogLevel: -4}, rec, dps.new)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	cfg := <-dps.cfgs
	dp := <-dps.made
	if cfg.TUNFD == tun || cfg.TUNFD <= 0 {
		t.Errorf("data plane got descriptor %d; want a duplicate of the app's %d", cfg.TUNFD, tun)
	}
	if cfg.MTU != 1420 || cfg.PrivateKey.IsZero() || cfg.SocketHook == nil || !cfg.RouteControlSource {
		t.Errorf("data plane config %+v", cfg)
	}
	if _, _, _, fds := rec.snapshot(); len(fds) != 1 {
		t.Errorf("Protect called for %v, want the one socket", fds)
	}
	// No network announced yet: the node waits.
	waitState(t, n, "no-link", func(s *Status) bool { return s.State == "no-link" })

	if err := n.NetworkChangedAddrs("wifi", "wlan0", "198.51.100.10/25,2001:db8:10::10/64"); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, n, "registration", func(s *Status) bool { return s.State == "registered" })
	vip4, vip6, _ := ha.VIPs("phone")
	if st.VIP4 != vip4.String() || st.VIP6 != vip6.String() || st.Interface != "wlan0" || st.InterfaceKind != "wifi" || st.CareOf == "" {
		t.Errorf("status %+v", st)
	}
	var js map[string]any
	if err := json.Unmarshal([]byte(n.Status()), &js); err != nil || js["state"] != "registered" || js["vip4"] != vip4.String() {
		t.Errorf("Status() = %s (%v)", n.Status(), err)
	}
	if b, ok := ha.Binding("phone"); !ok || b.Entries[b.Via].Kind.String() != "wifi" {
		t.Errorf("binding at the home agent %+v", b)
	}

	// The app may read the settings while the node runs (the node holds
	// the directory's lock; no fetch is needed).
	if s, err := TunnelSettings(dir, false); err != nil || s.VIP4 != vip4.String() {
		t.Errorf("TunnelSettings while running: %+v, %v", s, err)
	}

	// The OS switches to cellular.
	before := st.Handovers
	if err := n.NetworkChangedAddrs("cellular", "rmnet0", "100.64.1.10/24"); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, n, "handover", func(s *Status) bool { return s.State == "registered" && s.Interface == "rmnet0" })
	if st.Handovers != before+1 || st.InterfaceKind != "cellular" || st.VIP4 != vip4.String() {
		t.Errorf("after the move: %+v", st)
	}
	if b, ok := ha.Binding("phone"); !ok || b.Entries[b.Via].Kind.String() != "cellular" {
		t.Errorf("binding at the home agent after the move %+v", b)
	}
	if dp.Rebinds() == 0 {
		t.Error("the data plane was not rebound on the move")
	}

	// No network, then Wi-Fi again.
	if err := n.NetworkChanged(KindNone, ""); err != nil {
		t.Fatal(err)
	}
	waitState(t, n, "no-link", func(s *Status) bool { return s.State == "no-link" })
	if err := n.NetworkChangedAddrs("wifi", "wlan0", "198.51.100.10/25"); err != nil {
		t.Fatal(err)
	}
	waitState(t, n, "back on Wi-Fi", func(s *Status) bool { return s.State == "registered" && s.Interface == "wlan0" })

	n.Stop()
	n.Stop() // idempotent
	select {
	case <-dp.shut:
	default:
		t.Error("the data plane is still open after Stop")
	}
	if n.State() != "stopped" || n.Err() != nil {
		t.Errorf("after Stop: state %s, err %v", n.State(), n.Err())
	}
	if _, ok := ha.Binding("phone"); ok {
		t.Error("Stop did not deregister")
	}
	states, statuses, logs, _ := rec.snapshot()
	if states[len(states)-1] != "stopped" {
		t.Errorf("last state %q, want stopped: %v", states[len(states)-1], states)
	}
	for _, want := range []string{"registered", "moving", "no-link"} {
		if !contains(states, want) {
			t.Errorf("state %s never reported: %v", want, states)
		}
	}
	if !json.Valid([]byte(statuses[len(statuses)-1])) {
		t.Errorf("status JSON %s", statuses[len(statuses)-1])
	}
	if !containsSub(logs, "registered") || !containsSub(logs, "component=client") {
		t.Errorf("logs lack the node's registration: %v", logs)
	}
	// The app's own descriptor is untouched.
	if _, err := fcntlGetFD(tun); err != nil {
		t.Errorf("the app's TUN descriptor was closed: %v", err)
	}
	// After Stop the API reports it.
	if err := n.NetworkChangedAddrs("wifi", "wlan0", "198.51.100.10/25"); ErrorCode(err) != CodeStopped {
		t.Errorf("network change after Stop: %v", err)
	}
	if leaked := nodeGoroutines(); leaked != "" {
		t.Errorf("goroutines left after Stop:\n%s", leaked)
	}
}

func TestPreferenceAndStandby(t *testing.T) {
	_, dir := enrolled(t)
	dps := newFakeDPs()
	n, err := start(dir, appTUN(t), &Options{Prefer: "wifi,cellular"}, nil, dps.new)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if err := n.UpdateNetwork("cellular", "rmnet0", "100.64.1.10/24"); err != nil {
		t.Fatal(err)
	}
	if err := n.UpdateNetwork("wifi", "wlan0", "198.51.100.10/25"); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, n, "Wi-Fi primary, cellular standby", func(s *Status) bool {
		return s.State == "registered" && s.Interface == "wlan0" && s.Standby == "rmnet0"
	})
	if err := n.SetPreferred("cellular"); err != nil {
		t.Fatal(err)
	}
	if n.Preferred() != "cellular,wifi" {
		t.Errorf("Preferred() = %s", n.Preferred())
	}
	st = waitState(t, n, "cellular primary", func(s *Status) bool {
		return s.State == "registered" && s.Interface == "rmnet0" && s.Standby == "wlan0"
	})
	if err := n.RemoveNetwork("rmnet0"); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, n, "Wi-Fi alone", func(s *Status) bool {
		return s.State == "registered" && s.Interface == "wlan0" && s.Standby == ""
	})
	if st.Handovers < 2 {
		t.Errorf("handovers %d", st.Handovers)
	}
	for _, bad := range []func() error{
		func() error { return n.SetPreferred("carrier-pigeon") },
		func() error { return n.UpdateNetwork("wifi", "", "198.51.100.10/25") },
		func() error { return n.UpdateNetwork("wifi", "wlan0", "not-an-address") },
		func() error { return n.NetworkChangedAddrs("bluetooth", "bt0", "198.51.100.10/25") },
		func() error { return n.NetworkChanged("wifi", "") },
		func() error { return n.NetworkChanged("wifi", "hipnosuchif0") },
	} {
		if err := bad(); ErrorCode(err) != CodeInvalid {
			t.Errorf("bad input accepted or misreported: %v", err)
		}
	}
	if st := n.StatusInfo(); st.Interface != "wlan0" {
		t.Errorf("bad input changed the path: %+v", st)
	}
}

func TestStartErrors(t *testing.T) {
	_, dir := enrolled(t)
	dps := newFakeDPs()
	tun := appTUN(t)
	for _, tc := range []struct {
		name string
		dir  string
		fd   int
		opts *Options
		code string
	}{
		{"no fd", dir, 0, nil, CodeInvalid},
		{"closed fd", dir, 1 << 20, nil, CodeInvalid},
		{"bad port", dir, tun, &Options{ListenPort: 70000}, CodeInvalid},
		{"bad preference", dir, tun, &Options{Prefer: "wifi,wifi"}, CodeInvalid},
		{"bad log level", dir, tun, &Options{LogLevel: 99}, CodeInvalid},
		{"not enrolled", filepath.Join(t.TempDir(), "empty"), tun, nil, CodeNotEnrolled},
		{"no directory", "", tun, nil, CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := start(tc.dir, tc.fd, tc.opts, nil, dps.new)
			if err == nil {
				n.Stop()
				t.Fatal("started")
			}
			if ErrorCode(err) != tc.code {
				t.Errorf("error %v, want code %s", err, tc.code)
			}
		})
	}
	if len(dps.made) != 0 {
		t.Error("a data plane was created for a refused Start")
	}

	// The app refusing to protect the socket fails the data plane.
	rec := newRecorder()
	rec.refuse = true
	if _, err := start(dir, tun, nil, rec, dps.new); ErrorCode(err) != CodeTunnel || !strings.Contains(err.Error(), "protect") {
		t.Errorf("refused protect: %v", err)
	}

	// One node per state directory.
	n, err := start(dir, tun, nil, nil, dps.new)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	<-dps.made
	waitState(t, n, "the node to hold its directory", func(s *Status) bool { return s.State == "no-link" })
	if _, err := start(dir, tun, nil, nil, dps.new); ErrorCode(err) != CodeBusy {
		t.Errorf("second node on one directory: %v", err)
	}
}

func TestRevokedStopsByItself(t *testing.T) {
	ha, dir := enrolled(t)
	rec := newRecorder()
	n, err := start(dir, appTUN(t), nil, rec, newFakeDPs().new)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if err := n.NetworkChangedAddrs("wifi", "wlan0", "198.51.100.10/25"); err != nil {
		t.Fatal(err)
	}
	waitState(t, n, "registration", func(s *Status) bool { return s.State == "registered" })
	ha.Revoke("phone")
	if err := ha.Send("phone", &binding.Deregister{Status: binding.StatusRevoked, Reason: "lost phone"}); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, n, "stopped", func(s *Status) bool { return s.State == "stopped" })
	if ErrorCode(n.Err()) != CodeRevoked || !strings.Contains(st.LastError, CodeRevoked) {
		t.Errorf("after revocation: err %v, status %+v", n.Err(), st)
	}
	n.Stop()
	states, statuses, _, _ := rec.snapshot()
	if states[len(states)-1] != "stopped" || !strings.Contains(statuses[len(statuses)-1], "revoked") {
		t.Errorf("last report %s %s", states[len(states)-1], statuses[len(statuses)-1])
	}
}

func TestTunnelSettings(t *testing.T) {
	ha, dir := enrolled(t)
	s, err := TunnelSettings(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	vip4, vip6, _ := ha.VIPs("phone")
	want := &Settings{
		Addresses: vip4.String() + "/32," + vip6.String() + "/128",
		Routes:    "192.0.2.0/25,2001:db8:1::/64,192.0.2.129/32,2001:db8:100::1/128",
		DNS:       "192.0.2.129", SearchDomain: "home.test", MTU: 1420,
		VIP4: vip4.String(), VIP6: vip6.String(), HomeAgents: ha.Addr().String(),
	}
	if *s != *want {
		t.Errorf("settings\n got %+v\nwant %+v", s, want)
	}
	full, err := TunnelSettings(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(full.Routes, ",0.0.0.0/0,::/0") {
		t.Errorf("full tunnel routes %s", full.Routes)
	}
	var js struct {
		Addresses []string `json:"addresses"`
		Routes    []string `json:"routes"`
		MTU       int      `json:"mtu"`
	}
	if err := json.Unmarshal([]byte(full.JSON()), &js); err != nil || len(js.Addresses) != 2 || len(js.Routes) != 6 || js.MTU != 1420 {
		t.Errorf("JSON %s: %v", full.JSON(), err)
	}

	// Without a stored configuration, TunnelSettings fetches it.
	cdir, _ := client.OpenStateDir(dir)
	st, _ := cdir.Load()
	st.Config = nil
	if err := cdir.Save(st); err != nil {
		t.Fatal(err)
	}
	again, err := TunnelSettings(dir, false)
	if err != nil || *again != *want {
		t.Errorf("fetched settings %+v, %v", again, err)
	}

	if _, err := TunnelSettings(filepath.Join(t.TempDir(), "none"), false); ErrorCode(err) != CodeNotEnrolled {
		t.Errorf("not enrolled: %v", err)
	}
	ha.Close()
	defer func(d time.Duration) { fetchTimeout = d }(fetchTimeout)
	fetchTimeout = 300 * time.Millisecond
	st.Config = nil
	cdir.Save(st)
	if _, err := TunnelSettings(dir, false); ErrorCode(err) != CodeUnreachable {
		t.Errorf("home agent away: %v", err)
	}
}

func TestEnrollErrors(t *testing.T) {
	ha, dir := enrolled(t)
	tok, err := ha.AddDevice("tablet")
	if err != nil {
		t.Fatal(err)
	}
	if err := Enroll(tok, dir); ErrorCode(err) != CodeAlreadyEnrolled {
		t.Errorf("second enrolment of a directory: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if err := Enroll("homeip1-garbage", other); ErrorCode(err) != CodeInvalid {
		t.Errorf("malformed token: %v", err)
	}
	if err := Enroll(tok, other); err != nil {
		t.Fatal(err)
	}
	if err := Enroll(tok, filepath.Join(t.TempDir(), "third")); ErrorCode(err) != CodeBadToken {
		t.Errorf("spent token: %v", err)
	}
	if err := Enroll(tok, ""); ErrorCode(err) != CodeInvalid {
		t.Errorf("no directory: %v", err)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func containsSub(xs []string, s string) bool {
	for _, x := range xs {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func fcntlGetFD(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// nodeGoroutines returns the stacks of goroutines still running code of
// this package or of the client node, after giving them a moment.
func nodeGoroutines() string {
	var leaked string
	for i := 0; i < 100; i++ {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		leaked = ""
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "homeip/mobile.(*Node)") || strings.Contains(g, "homeip/client.(*runner)") {
				leaked += g + "\n\n"
			}
		}
		if leaked == "" {
			return ""
		}
		time.Sleep(10 * time.Millisecond)
	}
	return leaked
}

// TestZeroNode checks that a Node an app made with gobind's constructor
// instead of Start fails cleanly.
func TestZeroNode(t *testing.T) {
	for _, n := range []*Node{{}, nil} {
		for _, err := range []error{
			n.NetworkChanged("wifi", "lo"), n.NetworkChangedAddrs("wifi", "wlan0", "198.51.100.10/24"),
			n.UpdateNetwork("wifi", "wlan0", ""), n.RemoveNetwork("wlan0"), n.SetPreferred("wifi"), n.Err(),
		} {
			if ErrorCode(err) != CodeInvalid {
				t.Errorf("zero Node: %v", err)
			}
		}
		if n.State() != "stopped" || !json.Valid([]byte(n.Status())) || n.StatusInfo().State != "stopped" || n.Preferred() != "" {
			t.Errorf("zero Node status %s", n.Status())
		}
		n.Stop()
	}
}

// TestStopWhileConnecting checks that Stop does not wait for a connection
// attempt to a home agent that does not answer.
func TestStopWhileConnecting(t *testing.T) {
	ha, dir := enrolled(t)
	ha.Drop(true)
	n, err := start(dir, appTUN(t), nil, nil, newFakeDPs().new)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.NetworkChangedAddrs("wifi", "wlan0", "198.51.100.10/25"); err != nil {
		t.Fatal(err)
	}
	waitState(t, n, "connecting", func(s *Status) bool { return s.State == "connecting" })
	start := time.Now()
	n.Stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %v while the node was connecting", d)
	}
	if n.State() != "stopped" {
		t.Errorf("state %s", n.State())
	}
}
