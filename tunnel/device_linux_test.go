//go:build linux && !android

package tunnel

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/sys/unix"
)

// pair is two Devices in two namespaces joined by two veth links:
//
//	ns a (home agent)                        ns b (device)
//	l1 198.18.1.1/24 + 198.18.1.11/24  ----  l1 198.18.1.2/24
//	l2 2001:db8:2::1/64                ----  l2 2001:db8:2::2/64
//	tunnel 192.0.2.1/24 2001:db8:1::1/64     tunnel 192.0.2.2/24 2001:db8:1::2/64
type pair struct {
	nsA, nsB string
	a, b     *Device
	kA, kB   Key
}

var (
	vipA  = netip.MustParseAddr("192.0.2.1")
	vipB  = netip.MustParseAddr("192.0.2.2")
	vip6A = netip.MustParseAddr("2001:db8:1::1")
	vip6B = netip.MustParseAddr("2001:db8:1::2")
	// secondaryA is the home agent's second address on l1, the one the
	// device is told to use.
	secondaryA = netip.MustParseAddr("198.18.1.11")
)

func newPair(t *testing.T) *pair {
	t.Helper()
	requireLab(t)
	pfx := labPrefix(t)
	p := &pair{nsA: pfx + "a", nsB: pfx + "b"}
	newNetns(t, p.nsA)
	newNetns(t, p.nsB)
	for _, l := range []string{"l1", "l2"} {
		run(t, "ip", "link", "add", l, "netns", p.nsA, "type", "veth", "peer", "name", l, "netns", p.nsB)
	}
	run(t, "ip", "-n", p.nsA, "addr", "add", "198.18.1.1/24", "dev", "l1")
	run(t, "ip", "-n", p.nsA, "addr", "add", "198.18.1.11/24", "dev", "l1")
	run(t, "ip", "-n", p.nsB, "addr", "add", "198.18.1.2/24", "dev", "l1")
	run(t, "ip", "-n", p.nsA, "addr", "add", "2001:db8:2::1/64", "dev", "l2", "nodad")
	run(t, "ip", "-n", p.nsB, "addr", "add", "2001:db8:2::2/64", "dev", "l2", "nodad")
	for _, ns := range []string{p.nsA, p.nsB} {
		run(t, "ip", "-n", ns, "link", "set", "l1", "up")
		run(t, "ip", "-n", ns, "link", "set", "l2", "up")
	}

	var err error
	if p.kA, err = GeneratePrivateKey(); err != nil {
		t.Fatal(err)
	}
	if p.kB, err = GeneratePrivateKey(); err != nil {
		t.Fatal(err)
	}
	p.a = newDeviceIn(t, p.nsA, Config{
		InterfaceName: pfx + "a",
		PrivateKey:    p.kA,
		Addresses:     []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("2001:db8:1::1/64")},
		Netlink:       netlinkAt(t, p.nsA),
	})
	p.b = newDeviceIn(t, p.nsB, Config{
		InterfaceName: pfx + "b",
		PrivateKey:    p.kB,
		Addresses:     []netip.Prefix{netip.MustParsePrefix("192.0.2.2/32"), netip.MustParsePrefix("2001:db8:1::2/128")},
		Routes:        []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/64")},
	})
	// The home agent knows the device's VIPs but not where it is.
	if err := p.a.SetPeer(Peer{
		PublicKey:  p.kB.PublicKey(),
		AllowedIPs: []netip.Prefix{netip.PrefixFrom(vipB, 32), netip.PrefixFrom(vip6B, 128)},
	}); err != nil {
		t.Fatal(err)
	}
	// The device talks to the home agent's secondary address.
	if err := p.b.SetPeer(Peer{
		PublicKey:           p.kA.PublicKey(),
		AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/64")},
		Endpoint:            netip.AddrPortFrom(secondaryA, p.a.LocalPort()),
		PersistentKeepalive: 0,
	}); err != nil {
		t.Fatal(err)
	}
	startEcho(t, p.nsA)
	startEcho(t, p.nsB)
	return p
}

// newDeviceIn creates a Device in namespace ns, closed when the test ends.
func newDeviceIn(t testing.TB, ns string, cfg Config) *Device {
	t.Helper()
	var d *Device
	var err error
	inNetns(t, ns, func() { d, err = New(cfg) })
	if err != nil {
		t.Fatalf("New in %s: %v", ns, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func peerOf(t *testing.T, d *Device, pub Key) PeerStatus {
	t.Helper()
	ps, err := d.Peers()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.PublicKey == pub {
			return p
		}
	}
	t.Fatalf("peer %s not configured", pub)
	return PeerStatus{}
}

func TestDevicePairLab(t *testing.T) {
	p := newPair(t)

	t.Run("TUN keeps its offloads", func(t *testing.T) {
		// wireguard-go's TUN batches only with virtio-net headers (TSO/GRO).
		for _, d := range []*Device{p.a, p.b} {
			if bs := d.tun.BatchSize(); bs <= 1 {
				t.Errorf("%s: TUN batch size %d: offloads off", d.InterfaceName(), bs)
			}
		}
		out := run(t, "ip", "netns", "exec", p.nsA, "ethtool", "-k", p.a.InterfaceName())
		if !strings.Contains(out, "tcp-segmentation-offload: on") {
			t.Errorf("ethtool -k %s:\n%s", p.a.InterfaceName(), out)
		}
	})

	t.Run("traffic both ways IPv4 and IPv6", func(t *testing.T) {
		for _, c := range []struct {
			ns  string
			dst netip.Addr
		}{
			{p.nsB, vipA}, {p.nsA, vipB},
			{p.nsB, vip6A}, {p.nsA, vip6B},
		} {
			if err := probe(t, c.ns, c.dst, 5); err != nil {
				t.Fatal(err)
			}
		}
		st := peerOf(t, p.b, p.kA.PublicKey())
		if st.LastHandshake.IsZero() || st.RxBytes == 0 || st.TxBytes == 0 {
			t.Fatalf("device's view of the home agent: %+v", st)
		}
		// SetPeer keeps the handshake state (the one rule of the
		// DataPlane contract tunneltest.Run cannot check on a Device).
		if err := p.b.SetPeer(Peer{PublicKey: p.kA.PublicKey(), AllowedIPs: st.AllowedIPs}); err != nil {
			t.Fatal(err)
		}
		after := peerOf(t, p.b, p.kA.PublicKey())
		if !after.LastHandshake.Equal(st.LastHandshake) || after.RxBytes < st.RxBytes || after.TxBytes < st.TxBytes || after.Endpoint != st.Endpoint {
			t.Fatalf("SetPeer lost the peer's state: %+v, was %+v", after, st)
		}
		if err := probe(t, p.nsB, vipA, 3); err != nil {
			t.Fatalf("after SetPeer: %v", err)
		}
		if again := peerOf(t, p.b, p.kA.PublicKey()); !again.LastHandshake.Equal(st.LastHandshake) {
			t.Fatalf("traffic after SetPeer needed a new handshake: %v, was %v", again.LastHandshake, st.LastHandshake)
		}
	})

	t.Run("replies leave from the address the peer sent to", func(t *testing.T) {
		// Had the home agent answered from 198.18.1.1, the device would
		// have roamed its endpoint there.
		want := netip.AddrPortFrom(secondaryA, p.a.LocalPort())
		if got := peerOf(t, p.b, p.kA.PublicKey()).Endpoint; got != want {
			t.Fatalf("device's endpoint for the home agent = %v, want %v", got, want)
		}
		wantB := netip.AddrPortFrom(netip.MustParseAddr("198.18.1.2"), p.b.LocalPort())
		if got := peerOf(t, p.a, p.kB.PublicKey()).Endpoint; got != wantB {
			t.Fatalf("home agent's endpoint for the device = %v, want %v", got, wantB)
		}
	})

	t.Run("wg show lists the peer", func(t *testing.T) {
		out := run(t, "wg", "show", p.a.InterfaceName())
		for _, want := range []string{p.kB.PublicKey().String(), "198.18.1.2:", "192.0.2.2/32", "listening port: "} {
			if !strings.Contains(out, want) {
				t.Errorf("wg show output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("QUIC on the WireGuard port", func(t *testing.T) {
		testQUICOnSharedPort(t, p)
	})

	t.Run("re-pointing sticks to the address control arrived on", func(t *testing.T) {
		// A home agent re-points a device from a binding update that came
		// over QUIC to one of its several addresses; WireGuard must then
		// answer from that address too, or the device's NAT drops it.
		epB := netip.AddrPortFrom(netip.MustParseAddr("198.18.1.2"), p.b.LocalPort())
		// First a re-point with no control traffic seen: the home agent
		// answers from the address its route picks (198.18.1.1), and the
		// device roams there.
		p.a.ctrl.forgetSources()
		if err := p.a.SetEndpoint(p.kB.PublicKey(), epB); err != nil {
			t.Fatal(err)
		}
		if err := probe(t, p.nsA, vipB, 5); err != nil {
			t.Fatal(err)
		}
		routed := netip.AddrPortFrom(netip.MustParseAddr("198.18.1.1"), p.a.LocalPort())
		if got := peerOf(t, p.b, p.kA.PublicKey()).Endpoint; got != routed {
			t.Fatalf("device's endpoint for the home agent = %v, want the routed source %v", got, routed)
		}
		// Now a control datagram from the device to the secondary address,
		// then the re-point: replies leave from the secondary address.
		to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(secondaryA, p.a.LocalPort()))
		if _, err := p.b.ControlConn().WriteTo([]byte{0x40, 'b', 'u'}, to); err != nil {
			t.Fatal(err)
		}
		p.a.ControlConn().SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		if _, from, err := p.a.ControlConn().ReadFrom(buf); err != nil {
			t.Fatal(err)
		} else if got, _ := addrPortOf(from); got != epB {
			t.Fatalf("control datagram from %v, want %v", from, epB)
		}
		p.a.ControlConn().SetReadDeadline(time.Time{})
		if err := p.a.SetEndpoint(p.kB.PublicKey(), epB); err != nil {
			t.Fatal(err)
		}
		if err := probe(t, p.nsA, vipB, 5); err != nil {
			t.Fatal(err)
		}
		want := netip.AddrPortFrom(secondaryA, p.a.LocalPort())
		if got := peerOf(t, p.b, p.kA.PublicKey()).Endpoint; got != want {
			t.Fatalf("device's endpoint for the home agent = %v, want %v", got, want)
		}
	})

	t.Run("source outside AllowedIPs is dropped", func(t *testing.T) {
		// The device gets a second address its peer entry does not allow
		// and sends from it, then from its VIP.
		run(t, "ip", "-n", p.nsB, "addr", "add", "192.0.2.99/32", "dev", p.b.InterfaceName())
		var srv *net.UDPConn
		inNetns(t, p.nsA, func() {
			var err error
			srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: vipA.AsSlice(), Port: 9999})
			if err != nil {
				panic(err)
			}
		})
		defer srv.Close()
		send := func(src netip.Addr, msg string) {
			inNetns(t, p.nsB, func() {
				c, err := net.DialUDP("udp4", &net.UDPAddr{IP: src.AsSlice()}, &net.UDPAddr{IP: vipA.AsSlice(), Port: 9999})
				if err != nil {
					panic(err)
				}
				defer c.Close()
				if _, err := c.Write([]byte(msg)); err != nil {
					panic(err)
				}
			})
		}
		rxBefore := peerOf(t, p.a, p.kB.PublicKey()).RxBytes
		send(netip.MustParseAddr("192.0.2.99"), "spoofed")
		send(vipB, "genuine")
		srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 100)
		n, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		// Both went through the same peer in order; the first to arrive
		// must be the genuine one.
		if string(buf[:n]) != "genuine" || from.Addr() != vipB {
			t.Fatalf("first datagram %q from %v, want \"genuine\" from %v", buf[:n], from, vipB)
		}
		if rx := peerOf(t, p.a, p.kB.PublicKey()).RxBytes; rx < rxBefore+2*32 {
			t.Fatalf("home agent received %d bytes from the device, want both datagrams decrypted", rx-rxBefore)
		}
	})

	t.Run("re-pointed endpoint carries the traffic", func(t *testing.T) {
		// The device's IPv4 link goes away; the home agent re-points the
		// peer to the device's IPv6 address and traffic follows.
		run(t, "ip", "-n", p.nsA, "link", "set", "l1", "down")
		newEP := netip.AddrPortFrom(netip.MustParseAddr("2001:db8:2::2"), p.b.LocalPort())
		if err := p.a.SetEndpoint(p.kB.PublicKey(), newEP); err != nil {
			t.Fatal(err)
		}
		if got := peerOf(t, p.a, p.kB.PublicKey()).Endpoint; got != newEP {
			t.Fatalf("endpoint after SetEndpoint = %v", got)
		}
		if err := probe(t, p.nsA, vipB, 5); err != nil {
			t.Fatal(err)
		}
		if err := probe(t, p.nsA, vip6B, 5); err != nil {
			t.Fatal(err)
		}
		// The device followed the home agent onto l2.
		want := netip.AddrPortFrom(netip.MustParseAddr("2001:db8:2::1"), p.a.LocalPort())
		if got := peerOf(t, p.b, p.kA.PublicKey()).Endpoint; got != want {
			t.Fatalf("device's endpoint for the home agent = %v, want %v", got, want)
		}
	})

	t.Run("close removes interface, socket and port", func(t *testing.T) {
		name, port := p.a.InterfaceName(), p.a.LocalPort()
		if _, err := os.Stat("/var/run/wireguard/" + name + ".sock"); err != nil {
			t.Fatalf("UAPI socket: %v", err)
		}
		if err := p.a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.a.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := os.Stat("/var/run/wireguard/" + name + ".sock"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("UAPI socket still there: %v", err)
		}
		if out, err := runErr("ip", "-n", p.nsA, "link", "show", name); err == nil {
			t.Fatalf("interface still there:\n%s", out)
		}
		inNetns(t, p.nsA, func() {
			c, err := net.ListenUDP("udp", &net.UDPAddr{Port: int(port)})
			if err != nil {
				panic("port not freed: " + err.Error())
			}
			c.Close()
		})
		// The DataPlane methods after Close are TestDeviceConformanceLab's.
		if _, _, err := p.a.ControlConn().ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ControlConn read after Close: %v", err)
		}
	})
}

func testQUICOnSharedPort(t *testing.T, p *pair) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	serverTLS, clientTLS := testTLS(t)
	srvTr := &quic.Transport{Conn: p.a.ControlConn()}
	defer srvTr.Close()
	ln, err := srvTr.Listen(serverTLS, &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	echoed := make(chan error, 1)
	go func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			echoed <- err
			return
		}
		for i := 0; i < 2; i++ {
			s, err := c.AcceptStream(ctx)
			if err != nil {
				echoed <- err
				return
			}
			if _, err := io.Copy(s, s); err != nil {
				echoed <- err
				return
			}
			s.Close()
		}
		echoed <- nil
	}()

	cliTr := &quic.Transport{Conn: p.b.ControlConn()}
	defer cliTr.Close()
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(secondaryA, p.a.LocalPort()))
	conn, err := cliTr.Dial(ctx, to, clientTLS, &quic.Config{})
	if err != nil {
		t.Fatalf("QUIC dial to the WireGuard port: %v", err)
	}
	defer conn.CloseWithError(0, "")
	roundTrip := func(msg string) {
		t.Helper()
		s, err := conn.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		got, err := io.ReadAll(s)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Fatalf("echo %q, want %q", got, msg)
		}
	}
	roundTrip("hello over the shared port")
	if err := probe(t, p.nsB, vipA, 3); err != nil {
		t.Fatalf("WireGuard next to QUIC: %v", err)
	}

	// A Rebind of the device keeps its port and both sides working.
	port := p.b.LocalPort()
	if err := p.b.Rebind(); err != nil {
		t.Fatal(err)
	}
	if p.b.LocalPort() != port {
		t.Fatalf("port changed across Rebind: %d -> %d", port, p.b.LocalPort())
	}
	roundTrip("still here after Rebind")
	if err := probe(t, p.nsB, vipA, 3); err != nil {
		t.Fatalf("WireGuard after Rebind: %v", err)
	}
	if err := <-echoed; err != nil {
		t.Fatal(err)
	}
	st := p.a.DemuxStats()
	if st.QUIC == 0 || st.WireGuard == 0 {
		t.Fatalf("home agent demux stats %+v: want both kinds", st)
	}
}

// testTLS returns a server config with a fresh self-signed certificate and
// a client config that pins it, both with ALPN homeip/1.
func testTLS(t *testing.T) (*tls.Config, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "homeip test"},
		DNSNames:     []string{"homeip.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	srv := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   []string{"homeip/1"},
		MinVersion:   tls.VersionTLS13,
	}
	cli := &tls.Config{RootCAs: pool, ServerName: "homeip.test", NextProtos: []string{"homeip/1"}, MinVersion: tls.VersionTLS13}
	return srv, cli
}

// TestDeviceCloseStopsGoroutines creates and closes a Device and checks
// that the goroutine count comes back.
func TestDeviceCloseStopsGoroutines(t *testing.T) {
	requireLab(t)
	ns := labPrefix(t)
	newNetns(t, ns)
	before := runtime.NumGoroutine()
	k, _ := GeneratePrivateKey()
	var d *Device
	var err error
	inNetns(t, ns, func() {
		d, err = New(Config{InterfaceName: ns, PrivateKey: k, Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")}})
	})
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := GeneratePrivateKey()
	if err := d.SetPeer(Peer{PublicKey: peer.PublicKey(), Endpoint: netip.MustParseAddrPort("198.18.9.9:51820"), PersistentKeepalive: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), bytes.TrimSpace(buf[:n]))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDeviceFromTUNFD adopts a TUN descriptor opened elsewhere, the way a
// mobile OS hands one in.
func TestDeviceFromTUNFD(t *testing.T) {
	requireLab(t)
	ns := labPrefix(t)
	newNetns(t, ns)
	k, _ := GeneratePrivateKey()
	var d *Device
	var err error
	inNetns(t, ns, func() {
		fd, ferr := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if ferr != nil {
			panic(ferr)
		}
		ifr, ferr := unix.NewIfreq(ns + "m")
		if ferr != nil {
			panic(ferr)
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if ferr := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); ferr != nil {
			panic(ferr)
		}
		d, err = New(Config{TUNFD: fd, PrivateKey: k})
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.InterfaceName() != ns+"m" || d.LocalPort() == 0 {
		t.Fatalf("name %q port %d", d.InterfaceName(), d.LocalPort())
	}
	peer, _ := GeneratePrivateKey()
	if err := d.SetPeer(Peer{PublicKey: peer.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := runErr("ip", "-n", ns, "link", "show", ns+"m"); err == nil {
		t.Fatalf("interface outlived Close:\n%s", out)
	}
}

// TestNewFailureLeavesNothing makes New fail after the TUN exists (the
// listen address is not on this host) and checks nothing is left.
func TestNewFailureLeavesNothing(t *testing.T) {
	requireLab(t)
	ns := labPrefix(t)
	newNetns(t, ns)
	k, _ := GeneratePrivateKey()
	before := runtime.NumGoroutine()
	var err error
	inNetns(t, ns, func() {
		_, err = New(Config{InterfaceName: ns, PrivateKey: k, ListenAddr: netip.MustParseAddrPort("198.18.77.77:0")})
	})
	if err == nil {
		t.Fatal("New listening on an absent address succeeded")
	}
	if out, lerr := runErr("ip", "-n", ns, "link", "show", ns); lerr == nil {
		t.Fatalf("interface left behind after %v:\n%s", err, out)
	}
	if _, serr := os.Stat("/var/run/wireguard/" + ns + ".sock"); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("UAPI socket left behind: %v", serr)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after failed New", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
