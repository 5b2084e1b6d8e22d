package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/client/clienttest"
	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
)

// labNS is a network namespace made for one test.
type labNS struct {
	t    *testing.T
	name string
}

func newLabNS(t *testing.T) *labNS {
	t.Helper()
	labtest.Require(t)
	prefix := netlab.NewPrefix()
	release, err := netlab.RegisterOwner(prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // runs last, after the namespace is gone
	ns := &labNS{t: t, name: prefix + "-mn"}
	if out, err := exec.Command("ip", "netns", "add", ns.name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.name, err, out)
		}
	})
	return ns
}

// ip runs an ip(8) command inside the namespace.
func (n *labNS) ip(args ...string) string {
	n.t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// command returns a command that runs inside the namespace.
func (n *labNS) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

// listenUDP opens a UDP socket inside the namespace (a socket stays in the
// namespace it was created in).
func (n *labNS) listenUDP(addr netip.AddrPort) net.PacketConn {
	n.t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		n.t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(n.name)
	if err != nil {
		n.t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		n.t.Fatal(err)
	}
	pc, lerr := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err := netns.Set(orig); err != nil {
		panic("cannot return to the original namespace: " + err.Error())
	}
	if lerr != nil {
		n.t.Fatal(lerr)
	}
	return pc
}

func buildMnode(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mnode")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return bin
}

// TestUpMoveDownInNamespace runs the real binary with the real WireGuard
// data plane in a namespace against the fake home agent: enrol, up (TUN
// with the VIPs and routes), a move from wlan0 to wwan0, status, down.
func TestUpMoveDownInNamespace(t *testing.T) {
	ns := newLabNS(t)
	bin := buildMnode(t)
	ns.ip("link", "set", "lo", "up")
	ns.ip("addr", "add", "198.18.0.1/32", "dev", "lo")
	addLink := func(name, addr, peerAddr, gw, metric string) {
		ns.ip("link", "add", name, "type", "veth", "peer", "name", name+"p")
		ns.ip("link", "set", name, "up")
		ns.ip("link", "set", name+"p", "up")
		ns.ip("addr", "add", addr, "dev", name)
		ns.ip("addr", "add", peerAddr, "dev", name+"p")
		ns.ip("route", "add", "default", "via", gw, "dev", name, "metric", metric)
	}
	addLink("wlan0", "198.51.100.10/25", "198.51.100.1/25", "198.51.100.1", "600")

	ha, err := clienttest.New(clienttest.Config{Conn: ns.listenUDP(netip.MustParseAddrPort("198.18.0.1:0"))})
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	tok, err := ha.AddDevice("lab-phone")
	if err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := ns.command(ctx, bin, "enroll", tok, "--state-dir", stateDir).CombinedOutput(); err != nil {
		t.Fatalf("enroll: %v: %s", err, out)
	}
	if out, err := ns.command(ctx, bin, "enroll", tok, "--state-dir", filepath.Join(t.TempDir(), "again")).CombinedOutput(); err == nil || !strings.Contains(string(out), "already used") {
		t.Errorf("replayed token: %v: %s", err, out)
	}

	var logs bytes.Buffer
	// The UAPI socket (/var/run/wireguard/IFACE.sock) is not per
	// namespace: the TUN needs a name no other test uses.
	tun := ns.name[:9] + "t"
	up := ns.command(ctx, bin, "up", "--state-dir", stateDir, "--log-level", "debug", "--interface", tun, "--full-tunnel")
	up.Stderr = &logs
	start := time.Now()
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	defer func() {
		up.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			up.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("mnode up logs:\n%s", logs.String())
		}
	}()

	status := func() (client.Status, map[string]any, bool) {
		out, err := ns.command(ctx, bin, "status", "--state-dir", stateDir, "--json").Output()
		if err != nil {
			return client.Status{}, nil, false
		}
		var st client.Status
		var raw map[string]any
		if json.Unmarshal(out, &st) != nil || json.Unmarshal(out, &raw) != nil {
			t.Fatalf("status --json printed %s", out)
		}
		return st, raw, true
	}
	waitStatus := func(what string, cond func(client.Status) bool) (client.Status, map[string]any) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case err := <-exited:
				t.Fatalf("mnode up exited while waiting for %s: %v", what, err)
			default:
			}
			if st, raw, ok := status(); ok && cond(st) {
				return st, raw
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s", what)
		return client.Status{}, nil
	}
	st, raw := waitStatus("registration", func(s client.Status) bool { return s.State == "registered" })
	t.Logf("registered %v after mnode up", time.Since(start).Round(time.Millisecond))
	for _, k := range []string{"vip4", "vip6", "care_of", "interface", "rtt_ms", "keepalive_s", "handovers", "last_handover_ms", "seq"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status --json lacks %q", k)
		}
	}
	vip4, vip6, _ := ha.VIPs("lab-phone")
	if st.VIP4 != vip4 || st.VIP6 != vip6 || st.Interface != "wlan0" || st.InterfaceKind != "wifi" {
		t.Errorf("status %+v", st)
	}
	addrs := ns.ip("addr", "show", "dev", tun)
	if !strings.Contains(addrs, vip4.String()+"/32") || !strings.Contains(addrs, vip6.String()+"/128") {
		t.Errorf("VIPs not on %s:\n%s", tun, addrs)
	}
	if r := ns.ip("route", "get", "192.0.2.10"); !strings.Contains(r, "dev "+tun) {
		t.Errorf("home LAN not routed into the tunnel: %s", r)
	}
	if r := ns.ip("-6", "route", "get", "2001:db8:1::10"); !strings.Contains(r, "dev "+tun) {
		t.Errorf("home LAN (v6) not routed into the tunnel: %s", r)
	}
	if r := ns.ip("route", "show", "198.18.0.1"); !strings.Contains(r, "via 198.51.100.1 dev wlan0") {
		t.Errorf("home agent not pinned through wlan0: %q", r)
	}
	// Full tunnel: everything else goes into the tunnel (a route lookup
	// only; no packet leaves the namespace), the physical default route
	// stays.
	for _, dst := range []string{"192.0.2.200", "203.0.113.7"} {
		if r := ns.ip("route", "get", dst); !strings.Contains(r, "dev "+tun) {
			t.Errorf("full tunnel: %s not routed into the tunnel: %s", dst, r)
		}
	}
	if r := ns.ip("-6", "route", "get", "2001:db8:ffff::99"); !strings.Contains(r, "dev "+tun) {
		t.Errorf("full tunnel: IPv6 not routed into the tunnel: %s", r)
	}
	if r := ns.ip("route", "show", "default"); !strings.Contains(r, "via 198.51.100.1 dev wlan0") {
		t.Errorf("physical default route changed: %q", r)
	}

	// Move: cellular comes up, Wi-Fi goes away.
	addLink("wwan0", "100.64.1.10/24", "100.64.1.1/24", "100.64.1.1", "700")
	ns.ip("link", "del", "wlan0")
	st, _ = waitStatus("handover", func(s client.Status) bool {
		return s.State == "registered" && s.Handovers >= 1 && s.Interface == "wwan0"
	})
	t.Logf("handover to wwan0 took %.2f ms (%s)", st.LastHandoverMs, st.LastHandoverReason)
	if st.VIP4 != vip4 || st.VIP6 != vip6 {
		t.Errorf("VIPs changed on a move: %+v", st)
	}
	if r := ns.ip("route", "show", "198.18.0.1"); !strings.Contains(r, "via 100.64.1.1 dev wwan0") {
		t.Errorf("home agent not re-pinned through wwan0: %q", r)
	}
	if b, ok := ha.Binding("lab-phone"); !ok || b.Sequence != st.Seq || b.Entries[b.Via].Kind.String() != "cellular" {
		t.Errorf("home agent binding %+v", b)
	}
	text, err := ns.command(ctx, bin, "status", "--state-dir", stateDir).Output()
	if err != nil || !strings.Contains(string(text), "wwan0 (cellular") {
		t.Errorf("status text: %v\n%s", err, text)
	}

	// mnode down: the node deregisters and exits; the TUN and our routes go.
	if out, err := ns.command(ctx, bin, "down", "--state-dir", stateDir).CombinedOutput(); err != nil {
		t.Fatalf("down: %v: %s", err, out)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("mnode up exited with %v", err)
		}
		exited <- err
	case <-time.After(10 * time.Second):
		t.Fatal("mnode up still running after down")
	}
	if out, _ := exec.Command("ip", "-n", ns.name, "link", "show", tun).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Errorf("%s left after down: %s", tun, out)
	}
	if r := ns.ip("route", "show", "proto", "0x68"); strings.TrimSpace(r) != "" {
		t.Errorf("routes left after down: %s", r)
	}
	if _, ok := ha.Binding("lab-phone"); ok {
		t.Error("binding left at the home agent after down")
	}
}
