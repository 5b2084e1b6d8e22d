//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/quic-go/quic-go"
	"github.com/vishvananda/netns"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/homeagent/adminapi"
	"github.com/homeip/homeip/tunnel"
)

// needLab skips (or, with HOMEIP_REQUIRE_LAB=1, fails) when namespaces
// cannot be made here.
func needLab(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root"
	} else {
		for _, tool := range []string{"ip", "wg", "sysctl"} {
			if _, err := exec.LookPath(tool); err != nil {
				why = "needs " + tool
			}
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("HOMEIP_REQUIRE_LAB") == "1" {
		t.Fatalf("lab test cannot run: %s", why)
	}
	t.Skip(why)
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNS runs f on a thread inside namespace name.
func inNS(t *testing.T, name string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer netns.Set(orig)
	f()
}

// TestRealDataPlane runs the real `ha serve` (this binary) in a namespace
// with the real WireGuard data plane, and a mobile node in another
// namespace whose control connection shares its WireGuard socket, as cmd/mnode
// does: enrolment, registration, a binding, traffic and DNS through the
// tunnel, `wg show`, revocation and a clean SIGTERM.
func TestRealDataPlane(t *testing.T) {
	needLab(t)
	var rb [3]byte
	rand.Read(rb[:])
	pfx := "hip" + hex.EncodeToString(rb[:])
	haNS, mnNS := pfx+"h", pfx+"m"
	haIf, mnIf := pfx+"w", pfx+"n"
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", haNS).Run()
		exec.Command("ip", "netns", "del", mnNS).Run()
		exec.Command("ip", "link", "del", pfx+"a").Run()
	})
	sh(t, "ip", "netns", "add", haNS)
	sh(t, "ip", "netns", "add", mnNS)
	sh(t, "ip", "link", "add", pfx+"a", "type", "veth", "peer", "name", pfx+"b")
	sh(t, "ip", "link", "set", pfx+"a", "netns", haNS)
	sh(t, "ip", "link", "set", pfx+"b", "netns", mnNS)
	for _, c := range [][]string{
		{"ip", "-n", haNS, "link", "set", "lo", "up"},
		{"ip", "-n", mnNS, "link", "set", "lo", "up"},
		{"ip", "-n", haNS, "addr", "add", "198.18.0.1/24", "dev", pfx + "a"},
		{"ip", "-n", mnNS, "addr", "add", "198.18.0.2/24", "dev", pfx + "b"},
		{"ip", "-n", haNS, "link", "set", pfx + "a", "up"},
		{"ip", "-n", mnNS, "link", "set", pfx + "b", "up"},
	} {
		sh(t, c...)
	}

	dir := t.TempDir()
	sock := filepath.Join(dir, "ha.sock")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	ha := exec.Command("ip", "netns", "exec", haNS, exe, "serve", "--data-dir", dir, "--admin-socket", sock,
		"--interface", haIf, "--pool4", "192.0.2.128/25", "--pool6", "2001:db8:100::/64",
		"--tunnel4", "192.0.2.129", "--tunnel6", "2001:db8:100::1", "--public-addr", "198.18.0.1",
		"--route", "192.0.2.0/25", "--route", "2001:db8:1::/64", "--dns-zone", "lab.test")
	ha.Env = append(os.Environ(), "HOMEIP_TEST_HA_MAIN=1")
	ha.Stderr = &stderr
	if err := ha.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- ha.Wait() }()
	t.Cleanup(func() {
		ha.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("ha stderr:\n%s", stderr.String())
		}
	})
	admin := adminapi.NewClient(sock)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := admin.Pool(); err == nil {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("ha exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ha did not become ready:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err := admin.AddDevice("laptop")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := binding.ParseToken(res.Token)
	if err != nil || tok.Addrs[0] != netip.MustParseAddrPort("198.18.0.1:51830") {
		t.Fatalf("token %v %v", tok, err)
	}

	// The mobile node: a WireGuard data plane in its namespace whose
	// socket also carries QUIC.
	wgKey, _ := tunnel.GeneratePrivateKey()
	var mn *tunnel.Device
	inNS(t, mnNS, func() {
		mn, err = tunnel.New(tunnel.Config{InterfaceName: mnIf, PrivateKey: wgKey})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer mn.Close()
	_, ikey, _ := ed25519.GenerateKey(rand.Reader)
	cert, _ := binding.SelfSignedCert(ikey, "laptop")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// One QUIC transport on the shared socket, as the mobile node has.
	tr := &quic.Transport{Conn: mn.ControlConn()}
	defer tr.Close()
	var (
		conn *quic.Conn
		st   *quic.Stream
		r    *binding.Reader
	)
	dial := func() {
		t.Helper()
		if conn != nil {
			conn.CloseWithError(0, "moved")
		}
		conn, err = tr.Dial(ctx, net.UDPAddrFromAddrPort(tok.Addrs[0]),
			binding.ClientTLSConfig(cert, tok.Fingerprint, ""), &quic.Config{MaxIdleTimeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		st, err = conn.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r = binding.NewReader(st, 0)
	}
	dial()
	defer func() { conn.CloseWithError(0, "") }()
	call := func(m binding.Message) binding.Message {
		t.Helper()
		if err := binding.WriteMessage(st, m); err != nil {
			t.Fatal(err)
		}
		st.SetReadDeadline(time.Now().Add(10 * time.Second))
		reply, err := r.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	if a, ok := call(&binding.Enroll{Token: tok.Secret, WGPublicKey: wgKey.PublicKey(), Hostname: "laptop"}).(*binding.EnrollAck); !ok || a.Status != binding.StatusAccepted {
		t.Fatalf("enrol %+v", a)
	}
	reg, ok := call(&binding.Register{WGPublicKey: wgKey.PublicKey(), Lifetime: time.Minute}).(*binding.RegisterAck)
	if !ok || reg.Status != binding.StatusAccepted {
		t.Fatalf("register %+v", reg)
	}
	ack, ok := call(&binding.BindingUpdate{Sequence: 1, Flags: binding.FlagAck | binding.FlagHome, Lifetime: time.Minute, Via: 1,
		Entries: []binding.CareOf{{BID: 1, Kind: binding.KindEthernet, Priority: 1}}}).(*binding.BindingAck)
	if !ok || ack.Status != binding.StatusAccepted || ack.Observed.Addr() != netip.MustParseAddr("198.18.0.2") || ack.Observed.Port() != mn.LocalPort() {
		t.Fatalf("binding ack %+v (mn port %d)", ack, mn.LocalPort())
	}

	// Bring the mobile node's side of the tunnel up with what it was told.
	for _, c := range [][]string{
		{"ip", "-n", mnNS, "addr", "add", reg.VIP4.String() + "/32", "dev", mnIf},
		{"ip", "-n", mnNS, "addr", "add", reg.VIP6.String() + "/128", "dev", mnIf, "nodad"},
		{"ip", "-n", mnNS, "route", "add", reg.HATunnel4.String() + "/32", "dev", mnIf, "src", reg.VIP4.String()},
		{"ip", "-n", mnNS, "route", "add", reg.HATunnel6.String() + "/128", "dev", mnIf, "src", reg.VIP6.String()},
	} {
		sh(t, c...)
	}
	haPub := tunnel.Key(reg.HAPublicKey)
	if err := mn.SetPeer(tunnel.Peer{PublicKey: haPub, Endpoint: tok.Addrs[0], PersistentKeepalive: time.Second,
		AllowedIPs: []netip.Prefix{netip.PrefixFrom(reg.HATunnel4, 32), netip.PrefixFrom(reg.HATunnel6, 128)}}); err != nil {
		t.Fatal(err)
	}

	wg := sh(t, "ip", "netns", "exec", haNS, "wg", "show", haIf)
	if !strings.Contains(wg, wgKey.PublicKey().String()) || !strings.Contains(wg, "198.18.0.2:") ||
		!strings.Contains(wg, reg.VIP4.String()+"/32") {
		t.Fatalf("wg show:\n%s", wg)
	}
	// Traffic through the tunnel: DNS queries from the mobile node's VIPs to
	// the home agent's tunnel addresses (from sockets in its namespace).
	// A query from outside the tunnel gets no answer.
	for _, q := range []struct {
		ns     string
		server netip.Addr
		name   string
		qtype  uint16
		want   string
	}{
		{mnNS, reg.HATunnel4, "laptop.lab.test.", mdns.TypeA, reg.VIP4.String()},
		{mnNS, reg.HATunnel6, "laptop.lab.test.", mdns.TypeAAAA, reg.VIP6.String()},
		{mnNS, reg.HATunnel4, mustReverse(reg.VIP4), mdns.TypePTR, "laptop.lab.test."},
		{mnNS, reg.HATunnel4, "nobody.lab.test.", mdns.TypeA, "NXDOMAIN"},
		{haNS, reg.HATunnel4, "laptop.lab.test.", mdns.TypeA, "no answer"},
	} {
		if got := query(t, q.ns, q.server, q.name, q.qtype); got != q.want {
			t.Errorf("%s: %s %s @%v: %q, want %q", q.ns, q.name, mdns.TypeToString[q.qtype], q.server, got, q.want)
		}
	}
	if _, err := exec.LookPath("dig"); err == nil {
		out := sh(t, "ip", "netns", "exec", mnNS, "dig", "+short", "+time=2", "+tries=2", "@"+reg.HATunnel4.String(), "laptop.lab.test", "A")
		if strings.TrimSpace(out) != reg.VIP4.String() {
			t.Errorf("dig through the tunnel: %q", out)
		}
	}

	// Move: the mobile node's address changes; it rebinds its socket and
	// opens a new control connection from the new path. The home agent
	// re-points the peer before it acks, so downlink DNS answers follow.
	sh(t, "ip", "netns", "exec", mnNS, "sysctl", "-qw", "net.ipv4.conf.all.promote_secondaries=1",
		"net.ipv4.conf."+pfx+"b.promote_secondaries=1")
	sh(t, "ip", "-n", mnNS, "addr", "add", "198.18.0.3/24", "dev", pfx+"b")
	sh(t, "ip", "-n", mnNS, "addr", "del", "198.18.0.2/24", "dev", pfx+"b")
	if err := mn.Rebind(); err != nil {
		t.Fatal(err)
	}
	dial()
	if reg2, ok := call(&binding.Register{WGPublicKey: wgKey.PublicKey(), Lifetime: time.Minute}).(*binding.RegisterAck); !ok || reg2.VIP4 != reg.VIP4 || reg2.VIP6 != reg.VIP6 {
		t.Fatalf("register after move %+v", reg2)
	}
	ack, ok = call(&binding.BindingUpdate{Sequence: 2, Flags: binding.FlagAck | binding.FlagHome, Lifetime: time.Minute, Via: 1,
		Entries: []binding.CareOf{{BID: 1, Kind: binding.KindEthernet, Priority: 1}}}).(*binding.BindingAck)
	if !ok || ack.Status != binding.StatusAccepted || ack.Observed.Addr() != netip.MustParseAddr("198.18.0.3") {
		t.Fatalf("binding ack after move %+v", ack)
	}
	if ep := sh(t, "ip", "netns", "exec", haNS, "wg", "show", haIf, "endpoints"); !strings.Contains(ep, "198.18.0.3:") {
		t.Fatalf("endpoint not re-pointed: %s", ep)
	}
	if got := query(t, mnNS, reg.HATunnel4, "laptop.lab.test.", mdns.TypeA); got != reg.VIP4.String() {
		t.Fatalf("DNS through the tunnel after the move: %q", got)
	}
	bl, err := admin.Bindings()
	if err != nil || len(bl) != 1 || bl[0].Primary.Addr() != netip.MustParseAddr("198.18.0.3") || bl[0].LastHandover.IsZero() {
		t.Fatalf("bindings after move %+v %v", bl, err)
	}

	if _, err := admin.RevokeDevice("laptop"); err != nil {
		t.Fatal(err)
	}
	if wg := sh(t, "ip", "netns", "exec", haNS, "wg", "show", haIf); strings.Contains(wg, wgKey.PublicKey().String()) {
		t.Fatalf("peer still there after revocation:\n%s", wg)
	}
	if got := query(t, mnNS, reg.HATunnel4, "laptop.lab.test.", mdns.TypeA); got != "no answer" {
		t.Fatalf("DNS through the tunnel after revocation: %q", got)
	}

	// SIGTERM: clean exit, interface gone.
	ha.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("ha exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("ha did not exit on SIGTERM")
	}
	if err := exec.Command("ip", "-n", haNS, "link", "show", haIf).Run(); err == nil {
		t.Fatal("interface left after SIGTERM")
	}
	if _, err := os.Stat(sock); err == nil {
		t.Fatal("admin socket left after SIGTERM")
	}
}

func mustReverse(a netip.Addr) string {
	r, err := mdns.ReverseAddr(a.String())
	if err != nil {
		panic(err)
	}
	return r
}

// query asks server from a socket in namespace ns and summarises the
// answer: the first record's data, the rcode name, or "no answer".
func query(t *testing.T, ns string, server netip.Addr, name string, qtype uint16) string {
	t.Helper()
	var pc net.PacketConn
	var err error
	inNS(t, ns, func() { pc, err = net.ListenPacket("udp", ":0") })
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	c := &mdns.Client{Timeout: 800 * time.Millisecond}
	var resp *mdns.Msg
	for try := 0; try < 2; try++ {
		conn := &mdns.Conn{Conn: &packetConn{PacketConn: pc, to: net.UDPAddrFromAddrPort(netip.AddrPortFrom(server, 53))}}
		resp, _, err = c.ExchangeWithConn(m, conn)
		if err == nil {
			break
		}
	}
	if err != nil {
		return "no answer"
	}
	if resp.Rcode != mdns.RcodeSuccess {
		return mdns.RcodeToString[resp.Rcode]
	}
	if len(resp.Answer) == 0 {
		return "empty"
	}
	switch rr := resp.Answer[0].(type) {
	case *mdns.A:
		return rr.A.String()
	case *mdns.AAAA:
		return rr.AAAA.String()
	case *mdns.PTR:
		return rr.Ptr
	}
	return resp.Answer[0].String()
}

// packetConn makes an unconnected UDP socket look like a connected one to
// the DNS client.
type packetConn struct {
	net.PacketConn
	to net.Addr
}

func (p *packetConn) Read(b []byte) (int, error) {
	n, _, err := p.PacketConn.ReadFrom(b)
	return n, err
}

func (p *packetConn) Write(b []byte) (int, error) { return p.PacketConn.WriteTo(b, p.to) }

func (p *packetConn) RemoteAddr() net.Addr { return p.to }
