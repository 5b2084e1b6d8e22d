package homeagent

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
)

// fakeNAT is a UDP NAT on loopback between one device socket and the
// home agent: the device sends to inside, the NAT forwards from its
// current outside socket (the mapping) and relays the answers back.
// Flush forgets the mapping the way a router's conntrack flush does: the
// next datagram from the device leaves from a new outside port, and
// whatever the home agent still sends to the old one is lost. With limit
// set it also stands for a small link: datagrams whose UDP payload is
// longer are dropped (and counted), both ways.
type fakeNAT struct {
	t       testing.TB
	inside  *net.UDPConn
	ha      netip.AddrPort
	limit   int
	dropped atomic.Int64

	mu      sync.Mutex
	outside *net.UDPConn   // nil after Flush until the device sends again
	device  netip.AddrPort // the device's address, once it sent
	wg      sync.WaitGroup
	closed  bool
}

// newFakeNAT starts a fake NAT in front of the home agent at ha; limit, if
// not 0, is the largest UDP payload it carries.
func newFakeNAT(t testing.TB, ha netip.AddrPort, limit int) *fakeNAT {
	t.Helper()
	in, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNAT{t: t, inside: in, ha: ha, limit: limit}
	n.wg.Add(1)
	go n.fromDevice()
	t.Cleanup(n.close)
	return n
}

// addr is where the device sends.
func (n *fakeNAT) addr() netip.AddrPort { return n.inside.LocalAddr().(*net.UDPAddr).AddrPort() }

// mapping is the outside address the home agent sees now (zero after a
// flush until the device sends again).
func (n *fakeNAT) mapping() netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.outside == nil {
		return netip.AddrPort{}
	}
	return n.outside.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (n *fakeNAT) flush() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.outside != nil {
		n.outside.Close() // its relay goroutine ends
		n.outside = nil
	}
}

// fromDevice forwards the device's datagrams, opening a mapping when
// there is none.
func (n *fakeNAT) fromDevice() {
	defer n.wg.Done()
	buf := make([]byte, 2048)
	for {
		k, from, err := n.inside.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return
		}
		n.device = from
		out := n.outside
		if out == nil {
			out, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				n.mu.Unlock()
				n.t.Errorf("fake NAT: new mapping: %v", err)
				return
			}
			n.outside = out
			n.wg.Add(1)
			go n.fromHA(out)
		}
		n.mu.Unlock()
		if n.tooBig(k) {
			continue
		}
		out.WriteToUDPAddrPort(buf[:k], n.ha)
	}
}

// tooBig reports (and counts) a datagram the link cannot carry.
func (n *fakeNAT) tooBig(size int) bool {
	if n.limit > 0 && size > n.limit {
		n.dropped.Add(1)
		return true
	}
	return false
}

// fromHA relays the home agent's datagrams on one mapping to the device.
func (n *fakeNAT) fromHA(out *net.UDPConn) {
	defer n.wg.Done()
	buf := make([]byte, 2048)
	for {
		k, _, err := out.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		n.mu.Lock()
		dev := n.device
		n.mu.Unlock()
		if n.tooBig(k) {
			continue
		}
		n.inside.WriteToUDPAddrPort(buf[:k], dev)
	}
}

func (n *fakeNAT) close() {
	n.mu.Lock()
	n.closed = true
	if n.outside != nil {
		n.outside.Close()
	}
	n.mu.Unlock()
	n.inside.Close()
	n.wg.Wait()
}

// dialVia opens a control connection of dev through nat.
func (h *testHA) dialVia(dev *testDevice, nat *fakeNAT) *testConn {
	h.t.Helper()
	return h.dialViaConfig(dev, nat, &quic.Config{MaxIdleTimeout: 30 * time.Second})
}

// dialViaConfig opens a control connection of dev through nat with the
// device's QUIC configuration qc.
func (h *testHA) dialViaConfig(dev *testDevice, nat *fakeNAT, qc *quic.Config) *testConn {
	h.t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tlsc := binding.ClientTLSConfig(dev.cert, h.srv.id.Fingerprint, "")
	conn, err := quic.Dial(ctx, pc, net.UDPAddrFromAddrPort(nat.addr()), tlsc, qc)
	if err != nil {
		pc.Close()
		h.t.Fatalf("dial through the fake NAT: %v (%d datagrams too big for the link dropped)", err, nat.dropped.Load())
	}
	stream, err := conn.OpenStreamSync(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	c := &testConn{t: h.t, pc: pc, conn: conn, stream: stream, r: binding.NewReader(stream, 0), local: pc.LocalAddr().(*net.UDPAddr).AddrPort()}
	h.t.Cleanup(c.close)
	return c
}

// TestHandshakeFits1280Link: the home agent's handshake packets fit a
// link of 1280 bytes, the IPv6 minimum, so a device on such a link (IPv4
// or IPv6) completes its handshake without losing a packet and waiting for
// a probe timeout. The fake link carries UDP payloads of at most 1232
// bytes (a 1280-byte IPv6 packet) or 1252 (IPv4); the device is
// configured as the mobile node is (binding.InitialPacketSize).
func TestHandshakeFits1280Link(t *testing.T) {
	if got := (&Server{}).quicConfig(); got.InitialPacketSize != binding.InitialPacketSize || got.DisablePathMTUDiscovery {
		t.Fatalf("control listener: InitialPacketSize %d, path MTU discovery disabled %v; want %d and on",
			got.InitialPacketSize, got.DisablePathMTUDiscovery, binding.InitialPacketSize)
	}
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	dev := newDevice(t)
	c0, _ := h.enrol("phone", dev)
	c0.close()
	for _, link := range []struct {
		family string
		limit  int
	}{{"IPv6", 1280 - 40 - 8}, {"IPv4", 1280 - 20 - 8}} {
		t.Run(fmt.Sprintf("%s-%d", link.family, link.limit), func(t *testing.T) {
			nat := newFakeNAT(t, h.addr, link.limit)
			c := h.dialViaConfig(dev, nat, &quic.Config{MaxIdleTimeout: 30 * time.Second, InitialPacketSize: binding.InitialPacketSize})
			// Path MTU discovery starts only after the handshake; until
			// then nothing may have been too big for the link.
			if n := nat.dropped.Load(); n != 0 {
				t.Fatalf("%d handshake datagrams were too big for a 1280-byte %s link", n, link.family)
			}
			if ra := c.register(dev); !ra.Status.OK() {
				t.Fatalf("register over the small link: %+v", ra)
			}
		})
	}
}
