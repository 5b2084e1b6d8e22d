//go:build linux && !android

package tunnel

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
)

// These tests use loopback only: all of 127.0.0.0/8 is local on lo, which
// makes a host with several addresses without root.

func openTestBind(t *testing.T, listen netip.Addr) (*sharedBind, []conn.ReceiveFunc, *demux) {
	t.Helper()
	m := newDemux()
	b := newSharedBind(listen, nil, nil, m, slog.New(slog.DiscardHandler))
	fns, port, err := b.Open(0)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if port == 0 || b.localPort() != port {
		t.Fatalf("port = %d, localPort = %d", port, b.localPort())
	}
	t.Cleanup(func() { b.closeForGood() })
	return b, fns, m
}

// receiveAll reads until want datagrams of the kinds counted arrived and
// returns the WireGuard ones with their endpoints.
func receiveWG(t *testing.T, fn conn.ReceiveFunc, want int) ([][]byte, []*endpoint) {
	got, eps, _ := receiveWGMax(t, fn, want)
	return got, eps
}

// receiveWGMax is receiveWG that also reports the most datagrams one
// receive call returned.
func receiveWGMax(t *testing.T, fn conn.ReceiveFunc, want int) ([][]byte, []*endpoint, int) {
	t.Helper()
	bufs := make([][]byte, conn.IdealBatchSize)
	for i := range bufs {
		bufs[i] = make([]byte, device.MaxMessageSize)
	}
	sizes := make([]int, conn.IdealBatchSize)
	eps := make([]conn.Endpoint, conn.IdealBatchSize)
	var got [][]byte
	var gotEps []*endpoint
	most := 0
	for len(got) < want {
		n, err := fn(bufs, sizes, eps)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		most = max(most, n)
		for i := 0; i < n; i++ {
			if sizes[i] == 0 {
				continue
			}
			got = append(got, append([]byte(nil), bufs[i][:sizes[i]]...))
			gotEps = append(gotEps, eps[i].(*endpoint))
		}
	}
	return got, gotEps, most
}

func wgPacket(size int, seq byte) []byte {
	p := make([]byte, size)
	p[0] = 4 // transport data
	for i := 4; i < size; i++ {
		p[i] = seq
	}
	return p
}

func TestBindDemuxAndSourceOnLoopback(t *testing.T) {
	server, fns, m := openTestBind(t, netip.IPv4Unspecified())
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// The client talks to the server's *second* address.
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), server.localPort())

	quicPkt := append([]byte{0xc0, 0, 0, 0, 1}, bytes.Repeat([]byte{7}, 100)...)
	junk := []byte{0x05, 0, 0, 0, 9}
	for _, p := range [][]byte{quicPkt, junk, wgPacket(200, 1)} {
		if _, err := client.WriteToUDPAddrPort(p, to); err != nil {
			t.Fatal(err)
		}
	}
	// Find the receive function of the IPv4 socket (the first).
	got, eps := receiveWG(t, fns[0], 1)
	if !bytes.Equal(got[0], wgPacket(200, 1)) {
		t.Fatalf("WireGuard datagram altered")
	}
	if eps[0].SrcIP() != to.Addr() {
		t.Fatalf("endpoint source = %v, want %v (the address the client sent to)", eps[0].SrcIP(), to.Addr())
	}
	if eps[0].dst.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("endpoint dst = %v", eps[0].dst)
	}
	st := m.stats()
	if st.WireGuard != 1 || st.QUIC != 1 || st.Dropped != 1 {
		t.Fatalf("stats = %+v, want one of each", st)
	}

	// The control side gets the QUIC datagram with its source.
	cc := newControlConn(m, server)
	buf := make([]byte, 2000)
	cc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := cc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:n], quicPkt) || from.(*net.UDPAddr).AddrPort() != client.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("control read %x from %v", buf[:n], from)
	}

	// Replies, WireGuard and QUIC alike, leave from 127.0.0.2.
	if err := server.Send([][]byte{wgPacket(100, 2)}, eps[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.WriteTo([]byte{0x40, 1, 2, 3}, from); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < 2; i++ {
		_, src, err := client.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if src != to {
			t.Fatalf("reply %d came from %v, want %v", i, src, to)
		}
	}
}

// TestBindGROKeepsSource sends a GSO batch to the server's second
// loopback address: the server reads it coalesced (UDP GRO) and every
// datagram split out of it must keep its destination address.
func TestBindGROKeepsSource(t *testing.T) {
	server, fns, _ := openTestBind(t, netip.IPv4Unspecified())
	client, cfns, _ := openTestBind(t, netip.MustParseAddr("127.0.0.1"))
	_ = cfns
	server.mu.Lock()
	rx := server.v4rx
	server.mu.Unlock()
	client.mu.Lock()
	tx := client.v4tx
	client.mu.Unlock()
	t.Logf("server UDP GRO: %v, client UDP GSO: %v", rx, tx)

	to := newEndpoint(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), server.localPort()), netip.Addr{}, 0)
	const count = 20
	bufs := make([][]byte, count)
	for i := range bufs {
		b := make([]byte, 1200, device.MaxMessageSize)
		copy(b, wgPacket(1200, byte(i)))
		bufs[i] = b
	}
	if err := client.Send(bufs, to); err != nil {
		t.Fatal(err)
	}
	got, eps, most := receiveWGMax(t, fns[0], count)
	if rx && tx && most <= conn.IdealBatchSize/udpSegmentMaxDatagrams {
		t.Errorf("GRO on, but no receive call returned more datagrams (%d) than messages read: nothing was coalesced", most)
	}
	for i := range got {
		if len(got[i]) != 1200 || got[i][4] != byte(i) {
			t.Fatalf("datagram %d: len %d seq %d", i, len(got[i]), got[i][4])
		}
		if eps[i].SrcIP() != to.dst.Addr() {
			t.Fatalf("datagram %d: source %v lost, want %v", i, eps[i].SrcIP(), to.dst.Addr())
		}
	}
}

// TestStockBindLosesSourceUnderGRO documents why the shared Bind is not
// stock StdNetBind: with UDP GRO on, stock loses the destination address
// of what it receives. It fails only if stock misbehaves in a new way; if
// a wireguard-go update fixes stock, it says so.
func TestStockBindLosesSourceUnderGRO(t *testing.T) {
	stock := conn.NewStdNetBind()
	fns, port, err := stock.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer stock.Close()
	client, _, _ := openTestBind(t, netip.MustParseAddr("127.0.0.1"))
	to := newEndpoint(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port), netip.Addr{}, 0)
	const count = 8
	bufs := make([][]byte, count)
	for i := range bufs {
		b := make([]byte, 1200, device.MaxMessageSize)
		copy(b, wgPacket(1200, byte(i)))
		bufs[i] = b
	}
	if err := client.Send(bufs, to); err != nil {
		t.Fatal(err)
	}
	in := make([][]byte, conn.IdealBatchSize)
	for i := range in {
		in[i] = make([]byte, device.MaxMessageSize)
	}
	sizes := make([]int, conn.IdealBatchSize)
	eps := make([]conn.Endpoint, conn.IdealBatchSize)
	got, lost := 0, 0
	for got < count {
		n, err := fns[0](in, sizes, eps)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if sizes[i] == 0 {
				continue
			}
			got++
			switch src := eps[i].SrcIP(); {
			case !src.IsValid():
				lost++
			case src != to.dst.Addr():
				t.Fatalf("stock reports destination %v, want %v", src, to.dst.Addr())
			}
		}
	}
	if lost > 0 {
		t.Logf("stock StdNetBind lost the destination address of %d of %d datagrams", lost, got)
	} else {
		t.Logf("stock StdNetBind kept every destination address: the fork in bind_linux.go may no longer be needed")
	}
}

func TestBindListenOneAddress(t *testing.T) {
	b, _, _ := openTestBind(t, netip.MustParseAddr("127.0.0.3"))
	b.mu.Lock()
	v4, v6 := b.v4, b.v6
	b.mu.Unlock()
	if v4 == nil || v6 != nil {
		t.Fatalf("want only an IPv4 socket")
	}
	if got := v4.LocalAddr().(*net.UDPAddr).AddrPort().Addr(); got != netip.MustParseAddr("127.0.0.3") {
		t.Fatalf("bound to %v", got)
	}
	if err := b.sendControl([]byte{0x40}, netip.MustParseAddrPort("[::1]:9"), netip.Addr{}); err == nil {
		t.Fatal("IPv6 send on an IPv4-only bind succeeded")
	}
}

func TestBindReopenSamePortAndClose(t *testing.T) {
	b, fns, _ := openTestBind(t, netip.IPv4Unspecified())
	port := b.localPort()
	if _, _, err := b.Open(0); !errors.Is(err, conn.ErrBindAlreadyOpen) {
		t.Fatalf("second Open: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		if _, err := fn(make([][]byte, 1), make([]int, 1), make([]conn.Endpoint, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("receive after Close: %v, want net.ErrClosed", err)
		}
	}
	// While closed (mid-Rebind) control writes are dropped, not errors.
	if err := b.sendControl([]byte{0x40}, netip.MustParseAddrPort("127.0.0.1:9"), netip.Addr{}); err != nil {
		t.Fatalf("control write while rebinding: %v", err)
	}
	if _, got, err := b.Open(port); err != nil || got != port {
		t.Fatalf("reopen: port %d, %v; want %d", got, err, port)
	}
	b.closeForGood()
	if _, _, err := b.Open(port); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Open after closeForGood: %v", err)
	}
	if err := b.sendControl([]byte{0x40}, netip.MustParseAddrPort("127.0.0.1:9"), netip.Addr{}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("control write after close: %v", err)
	}
}

func TestPktinfoRoundTrip(t *testing.T) {
	for _, a := range []string{"192.0.2.7", "2001:db8::7", "fe80::1"} {
		addr := netip.MustParseAddr(a)
		c := srcControl(nil, addr, 3)
		got, _ := parsePktinfo(c)
		if got != addr {
			t.Errorf("%v: round trip gave %v", addr, got)
		}
	}
	c := appendCmsg(srcControl(nil, netip.MustParseAddr("192.0.2.1"), 0), unix.SOL_UDP, unix.UDP_GRO, 2, func(d []byte) {
		nativeEndian.PutUint16(d, 1234)
	})
	if n, err := gsoSizeOf(c); err != nil || n != 1234 {
		t.Fatalf("GSO size round trip: %d, %v", n, err)
	}
}

func TestBindSocketHook(t *testing.T) {
	var fds []int
	b := newSharedBind(netip.Addr{}, func(fd int) error {
		fds = append(fds, fd)
		return nil
	}, nil, newDemux(), slog.New(slog.DiscardHandler))
	if _, _, err := b.Open(0); err != nil {
		t.Fatal(err)
	}
	b.closeForGood()
	if len(fds) != 2 {
		t.Fatalf("hook saw %d sockets, want 2 (IPv4 and IPv6)", len(fds))
	}

	refused := errors.New("protect failed")
	b = newSharedBind(netip.Addr{}, func(int) error { return refused }, nil, newDemux(), slog.New(slog.DiscardHandler))
	defer b.closeForGood()
	if _, _, err := b.Open(0); !errors.Is(err, refused) {
		t.Fatalf("Open with a failing hook: %v", err)
	}
	if b.localPort() != 0 {
		t.Fatal("failed Open left a port")
	}
}

// TestBindForgetsVanishedSource sends on an endpoint whose sticky source
// is not (or no longer) an address of this host: the datagrams still go
// out, by route, and the endpoint forgets the source.
func TestBindForgetsVanishedSource(t *testing.T) {
	b, _, _ := openTestBind(t, netip.IPv4Unspecified())
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ep := newEndpoint(client.LocalAddr().(*net.UDPAddr).AddrPort(), netip.MustParseAddr("198.18.99.99"), 0)
	if err := b.Send([][]byte{wgPacket(64, 1), wgPacket(64, 2)}, ep); err != nil {
		t.Fatalf("Send with a vanished source: %v", err)
	}
	if ep.SrcIP().IsValid() {
		t.Fatalf("source %v kept", ep.SrcIP())
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	for i := 0; i < 2; i++ {
		if _, _, err := client.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunInNetnsSameNamespace(t *testing.T) {
	// inCurrentNetns answers for the calling thread and the main thread
	// together. The main thread can be in another namespace when a test
	// before this one ran a namespace switch on it (Go keeps a main
	// thread whose goroutine exits locked, in the namespace it had), so
	// the expected answer depends on that, and both cases are checked.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Skipf("no namespace file: %v", err)
	}
	defer ns.Close()
	var self, main unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &self); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/proc/self/ns/net", &main); err != nil {
		t.Fatal(err)
	}
	same := self.Dev == main.Dev && self.Ino == main.Ino
	if got := inCurrentNetns(ns); got != same {
		t.Fatalf("inCurrentNetns(own thread's namespace) = %v, want %v (main thread in the same namespace: %v)", got, same, same)
	}
	ran := false
	if err := runInNetns(ns, func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("runInNetns in the own namespace: ran %v, %v", ran, err)
	}
	other, err := os.Open("/proc/self/ns/mnt") // a different inode
	if err != nil {
		t.Skip(err)
	}
	defer other.Close()
	if inCurrentNetns(other) {
		t.Error("a different namespace file taken for the current one")
	}
}
