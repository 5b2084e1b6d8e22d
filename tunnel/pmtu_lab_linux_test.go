//go:build linux && !android

package tunnel

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// narrowPath is two Devices (interface MTU 1420) whose outer path crosses
// a router with a 1280-byte link that drops what does not fit without a
// word (no ICMP):
//
//	ns a                      ns m (router)                    ns b
//	l1 198.18.5.1/24  ----  198.18.5.254 | 198.18.6.254  ----  l1 198.18.6.2/24
//	(MTU 1500)              (1500)         (1280, ICMP           (MTU 1280)
//	                                        errors dropped)
//
// a's kernel believes its outer path carries 1500 bytes (a black hole);
// b's kernel knows its link carries 1280 (UDP GSO batches that do not fit
// are refused with EMSGSIZE).
type narrowPath struct {
	nsA, nsM, nsB string
	a, b          *Device
	kA, kB        Key
}

func newNarrowPath(t *testing.T) *narrowPath {
	t.Helper()
	requireLab(t)
	pfx := labPrefix(t)
	p := &narrowPath{nsA: pfx + "a", nsM: pfx + "m", nsB: pfx + "b"}
	for _, ns := range []string{p.nsA, p.nsM, p.nsB} {
		newNetns(t, ns)
	}
	run(t, "ip", "link", "add", "l1", "netns", p.nsA, "type", "veth", "peer", "name", "ma", "netns", p.nsM)
	run(t, "ip", "link", "add", "l1", "netns", p.nsB, "type", "veth", "peer", "name", "mb", "netns", p.nsM)
	run(t, "ip", "-n", p.nsM, "link", "set", "dev", "mb", "mtu", "1280")
	run(t, "ip", "-n", p.nsB, "link", "set", "dev", "l1", "mtu", "1280")
	run(t, "ip", "-n", p.nsA, "addr", "add", "198.18.5.1/24", "dev", "l1")
	run(t, "ip", "-n", p.nsM, "addr", "add", "198.18.5.254/24", "dev", "ma")
	run(t, "ip", "-n", p.nsM, "addr", "add", "198.18.6.254/24", "dev", "mb")
	run(t, "ip", "-n", p.nsB, "addr", "add", "198.18.6.2/24", "dev", "l1")
	run(t, "ip", "-n", p.nsA, "link", "set", "l1", "up")
	run(t, "ip", "-n", p.nsB, "link", "set", "l1", "up")
	run(t, "ip", "-n", p.nsM, "link", "set", "dev", "ma", "up")
	run(t, "ip", "-n", p.nsM, "link", "set", "dev", "mb", "up")
	run(t, "ip", "-n", p.nsA, "route", "add", "198.18.6.0/24", "via", "198.18.5.254")
	run(t, "ip", "-n", p.nsB, "route", "add", "198.18.5.0/24", "via", "198.18.6.254")
	run(t, "ip", "netns", "exec", p.nsM, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	// The router tells nobody: its "fragmentation needed" errors die.
	run(t, "ip", "netns", "exec", p.nsM, "nft", "add table inet blackhole; "+
		"add chain inet blackhole out { type filter hook output priority 0; }; "+
		"add rule inet blackhole out icmp type destination-unreachable icmp code frag-needed drop; "+
		"add rule inet blackhole out icmpv6 type packet-too-big drop")

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
	if err := p.a.SetPeer(Peer{
		PublicKey:  p.kB.PublicKey(),
		AllowedIPs: []netip.Prefix{netip.PrefixFrom(vipB, 32), netip.PrefixFrom(vip6B, 128)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.b.SetPeer(Peer{
		PublicKey:  p.kA.PublicKey(),
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/64")},
		Endpoint:   netip.MustParseAddrPort(fmt.Sprintf("198.18.5.1:%d", p.a.LocalPort())),
	}); err != nil {
		t.Fatal(err)
	}
	startEcho(t, p.nsA)
	startEcho(t, p.nsB)
	return p
}

// setMTUs gives both Devices the limit of a 1280-byte IPv4 outer path.
func (p *narrowPath) setMTUs(t *testing.T) int {
	t.Helper()
	mtu := InnerMTU(1280 - 28)
	if err := p.a.SetPeerMTU(p.kB.PublicKey(), mtu); err != nil {
		t.Fatal(err)
	}
	if err := p.b.SetPeerMTU(p.kA.PublicKey(), mtu); err != nil {
		t.Fatal(err)
	}
	return mtu
}

// bigProbe sends one datagram of size bytes (DF set, as Go's UDP sockets
// do) from ns to dst's echo server and reports whether it came back.
func bigProbe(t *testing.T, ns string, dst netip.Addr, size int) bool {
	t.Helper()
	var c *net.UDPConn
	inNetns(t, ns, func() {
		var err error
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, echoPort)))
		if err != nil {
			panic(err)
		}
	})
	defer c.Close()
	msg := make([]byte, size)
	buf := make([]byte, 2048)
	for try := 0; try < 2; try++ {
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); err == nil && n == size {
			return true
		}
	}
	return false
}

// listenTCP listens on addr in namespace ns until the test ends.
func listenTCP(t *testing.T, ns string, addr netip.Addr) net.Listener {
	t.Helper()
	var ln net.Listener
	inNetns(t, ns, func() {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		if err != nil {
			panic(err)
		}
	})
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialTCP connects from namespace ns to ln's address.
func dialTCP(t *testing.T, ns string, ln net.Listener) net.Conn {
	t.Helper()
	var c net.Conn
	inNetns(t, ns, func() {
		var err error
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			panic(err)
		}
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// sendHashed writes size random bytes on w and closes it for writing,
// returning their SHA-256.
func sendHashed(w net.Conn, size int) ([32]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(rand.Reader, int64(size))); err != nil {
		return [32]byte{}, err
	}
	if err := w.(*net.TCPConn).CloseWrite(); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h.Sum(nil)), nil
}

// transfer moves size bytes over the connection from sender to receiver
// within timeout and fails the test unless they arrive intact.
func transfer(t *testing.T, sender, receiver net.Conn, size int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	sender.SetDeadline(deadline)
	receiver.SetDeadline(deadline)
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		h := sha256.New()
		n, err := io.Copy(h, receiver)
		got <- result{[32]byte(h.Sum(nil)), n, err}
	}()
	sent, err := sendHashed(sender, size)
	r := <-got
	if err != nil || r.err != nil {
		t.Fatalf("transfer of %d bytes: send: %v; receive (%d bytes): %v", size, err, r.n, r.err)
	}
	if r.n != int64(size) || r.sum != sent {
		t.Fatalf("received %d bytes with SHA-256 %x, sent %d with %x", r.n, r.sum, size, sent)
	}
}

// accept returns the next connection on ln.
func accept(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPathMTULab(t *testing.T) {
	p := newNarrowPath(t)
	// b knows where a is; a learns b's endpoint from its handshake.
	if err := probe(t, p.nsB, vipA, 5); err != nil {
		t.Fatal(err)
	}
	const bulk = 4 << 20

	// Opened before the limit is known; it carries only a few bytes so far.
	lnLong := listenTCP(t, p.nsB, vipB)
	longA := dialTCP(t, p.nsA, lnLong)
	longB := accept(t, lnLong)
	if _, err := longA.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(longB, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}

	t.Run("the middle hop is a silent black hole", func(t *testing.T) {
		// 1300 bytes inside make a 1360-byte outer datagram: dropped by
		// the router, and nobody is told.
		if bigProbe(t, p.nsA, vipB, 1300-28) {
			t.Fatal("an oversize datagram crossed the 1280-byte hop")
		}
		if !bigProbe(t, p.nsA, vipB, 1000) {
			t.Fatal("a small datagram did not cross")
		}
	})

	t.Run("EMSGSIZE does not stall the side whose link is narrow", func(t *testing.T) {
		// b's kernel refuses its GSO batches of 1480-byte datagrams (DF
		// is set); they are re-sent one by one, refused again and
		// dropped, and the refusal lowers b's limit toward a to what its
		// link carries, so TCP is told by ICMP and goes on.
		ln := listenTCP(t, p.nsA, vipA)
		c := dialTCP(t, p.nsB, ln)
		transfer(t, c, accept(t, ln), 1<<20, 30*time.Second)
		if st := p.b.SendStats(); st.Oversize == 0 || st.Resegmented == 0 {
			t.Fatalf("send stats %+v: no refused batch was re-sent", st)
		}
		// The socket sets DF: the refusals were hints, and b's limit
		// toward a is what its 1280-byte link carries.
		if st := p.b.SendStats(); st.Hints == 0 {
			t.Fatalf("send stats %+v: no limit lowered by EMSGSIZE", st)
		}
		if got, want := peerOf(t, p.b, p.kA.PublicKey()).MTU, InnerMTU(1280-28); got != want {
			t.Fatalf("b's limit toward a after EMSGSIZE = %d, want %d", got, want)
		}
		// b's kernel learned that limit from the filter's ICMP errors;
		// forget it, so that the connections below start unclamped.
		run(t, "ip", "-n", p.nsB, "route", "flush", "cache")
		if out := run(t, "ip", "-n", p.nsB, "route", "get", vipA.String()); strings.Contains(out, " mtu ") {
			t.Fatalf("b's kernel still has a path MTU toward a: %s", out)
		}
	})

	mtu := p.setMTUs(t)
	t.Run("Peers shows the path MTU", func(t *testing.T) {
		if got := peerOf(t, p.a, p.kB.PublicKey()).MTU; got != mtu {
			t.Fatalf("MTU = %d, want %d", got, mtu)
		}
		if got := peerOf(t, p.b, p.kA.PublicKey()).MTU; got != mtu {
			t.Fatalf("MTU = %d, want %d", got, mtu)
		}
	})

	for _, c := range []struct {
		name           string
		from, to       string
		fromDev, toDev *Device
		listenAt       netip.Addr
	}{
		{"IPv4 a to b", p.nsA, p.nsB, p.a, p.b, vipB},
		{"IPv4 b to a", p.nsB, p.nsA, p.b, p.a, vipA},
		{"IPv6 a to b", p.nsA, p.nsB, p.a, p.b, vip6B},
		{"IPv6 b to a", p.nsB, p.nsA, p.b, p.a, vip6A},
	} {
		// New connections: both SYN and SYN-ACK are clamped, so no
		// segment ever exceeds the limit (and no PMTU is cached yet).
		t.Run("bulk "+c.name, func(t *testing.T) {
			ln := listenTCP(t, c.to, c.listenAt)
			before := c.fromDev.MTUStats().MSSClamped + c.toDev.MTUStats().MSSClamped
			dropped := c.fromDev.MTUStats().TooBig + c.toDev.MTUStats().TooBig
			conn := dialTCP(t, c.from, ln)
			transfer(t, conn, accept(t, ln), bulk, 60*time.Second)
			if after := c.fromDev.MTUStats().MSSClamped + c.toDev.MTUStats().MSSClamped; after < before+2 {
				t.Fatalf("MSS clamped %d times for SYN and SYN-ACK, want 2", after-before)
			}
			if n := c.fromDev.MTUStats().TooBig + c.toDev.MTUStats().TooBig - dropped; n != 0 {
				t.Fatalf("%d packets of a clamped connection were over the limit", n)
			}
		})
	}

	t.Run("a connection opened before shrinks its segments", func(t *testing.T) {
		before := p.a.MTUStats()
		transfer(t, longA, longB, bulk, 60*time.Second)
		st := p.a.MTUStats()
		if st.TooBig == before.TooBig || st.ICMPSent == before.ICMPSent {
			t.Fatalf("MTU stats %+v: the sender was never told", st)
		}
	})

	t.Run("a datagram over the limit teaches the sender's kernel", func(t *testing.T) {
		for _, c := range []struct {
			dst  netip.Addr
			size int
			want string
		}{
			{vipB, 1300, "mtu 1216"},  // 1220 rounded down to wireguard-go's padding
			{vip6B, 1400, "mtu 1280"}, // IPv6 is never told less than 1280
		} {
			var u *net.UDPConn
			inNetns(t, p.nsA, func() {
				var err error
				u, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.dst, echoPort)))
				if err != nil {
					panic(err)
				}
			})
			defer u.Close()
			var out string
			for try := 0; try < 20 && !strings.Contains(out, c.want); try++ {
				u.Write(make([]byte, c.size))
				time.Sleep(50 * time.Millisecond)
				out = run(t, "ip", "-n", p.nsA, "route", "get", c.dst.String())
			}
			if !strings.Contains(out, c.want) {
				t.Fatalf("route to %v after an oversize datagram:\n%s", c.dst, out)
			}
		}
	})

	t.Run("inner IPv6 up to 1280 bytes crosses a narrow link the kernel knows, fragmented outside", func(t *testing.T) {
		// Over a limit of 1220 the tunnel still carries IPv6 packets of
		// 1280 bytes; b's kernel refuses their 1340-byte datagrams (DF)
		// and b sends them again without DF, fragmented to its link.
		var u *net.UDPConn
		inNetns(t, p.nsB, func() {
			var err error
			u, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip6A, echoPort)))
			if err != nil {
				panic(err)
			}
		})
		defer u.Close()
		fragBefore := p.b.SendStats().Fragmented
		rxBefore := peerOf(t, p.a, p.kB.PublicKey()).RxBytes
		if _, err := u.Write(make([]byte, 1280-48)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for peerOf(t, p.a, p.kB.PublicKey()).RxBytes < rxBefore+1280 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := peerOf(t, p.a, p.kB.PublicKey()).RxBytes - rxBefore; got < 1280 {
			t.Fatalf("a received %d bytes from b, want the 1280-byte packet", got)
		}
		if st := p.b.SendStats(); st.Fragmented == fragBefore {
			t.Fatalf("send stats %+v: nothing sent fragmented", st)
		}
	})

	// The SetPeerMTU contract itself (range, unknown peer, the value kept
	// by SetPeer and forgotten by RemovePeer) is TestDeviceConformanceLab's;
	// here, that the filter follows it.
	t.Run("the filter follows SetPeer and RemovePeer", func(t *testing.T) {
		pub := p.kB.PublicKey()
		if err := p.a.SetPeer(Peer{PublicKey: pub, AllowedIPs: []netip.Prefix{netip.PrefixFrom(vipB, 32), netip.PrefixFrom(vip6B, 128)}}); err != nil {
			t.Fatal(err)
		}
		if p.a.mtuf.table.Load().lookup(vipB) == 0 {
			t.Fatal("the limit is no longer enforced after SetPeer")
		}
		if err := p.a.RemovePeer(pub); err != nil {
			t.Fatal(err)
		}
		if p.a.mtuf.table.Load() != nil {
			t.Fatal("a removed peer's limit is still enforced")
		}
	})
}
