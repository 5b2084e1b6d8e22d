package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
)

// sizeLimitConn stands for a small link on the node's side: it drops
// datagrams whose UDP payload exceeds limit, counts them, and records the
// largest datagram written.
type sizeLimitConn struct {
	net.PacketConn
	limit int

	mu      sync.Mutex
	largest int
	dropped int
}

func (c *sizeLimitConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	c.largest = max(c.largest, len(p))
	drop := len(p) > c.limit
	if drop {
		c.dropped++
	}
	c.mu.Unlock()
	if drop {
		return len(p), nil // lost on the link, as far as the sender knows
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *sizeLimitConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || n <= c.limit {
			return n, addr, err
		}
		c.mu.Lock()
		c.dropped++
		c.mu.Unlock()
	}
}

// SetReadBuffer and SetWriteBuffer keep quic-go from warning that the
// wrapped socket's buffers cannot be sized.
func (c *sizeLimitConn) SetReadBuffer(int) error  { return nil }
func (c *sizeLimitConn) SetWriteBuffer(int) error { return nil }

func (c *sizeLimitConn) stats() (largest, dropped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.largest, c.dropped
}

// TestHandshakeFits1280Link: the node's control connections start with
// packets that fit a 1280-byte link, IPv4 and IPv6, so the handshake
// needs no fragmentation and loses nothing there; path MTU discovery
// stays on. The home agent is played by a listener configured with the
// same initial size (homeagent tests its own side).
func TestHandshakeFits1280Link(t *testing.T) {
	qc := quicConfig(time.Minute)
	if qc.InitialPacketSize != binding.InitialPacketSize || qc.DisablePathMTUDiscovery {
		t.Fatalf("InitialPacketSize %d, path MTU discovery disabled %v; want %d and on",
			qc.InitialPacketSize, qc.DisablePathMTUDiscovery, binding.InitialPacketSize)
	}
	haCert, tlsConf := controlTLS(t)
	for _, tc := range []struct {
		network, addr string
		limit         int // UDP payload of a 1280-byte packet
	}{{"udp4", "127.0.0.1:0", 1280 - 20 - 8}, {"udp6", "[::1]:0", 1280 - 40 - 8}} {
		t.Run(tc.network, func(t *testing.T) {
			lpc, err := net.ListenPacket(tc.network, tc.addr)
			if err != nil {
				t.Skipf("no %s loopback: %v", tc.network, err)
			}
			defer lpc.Close()
			ln, err := quic.Listen(lpc, binding.ServerTLSConfig(haCert), &quic.Config{InitialPacketSize: binding.InitialPacketSize})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			accepted := make(chan error, 1)
			go func() {
				c, err := ln.Accept(ctx)
				if err == nil {
					<-c.HandshakeComplete()
					c.CloseWithError(0, "")
				}
				accepted <- err
			}()
			pc, err := net.ListenPacket(tc.network, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			link := &sizeLimitConn{PacketConn: pc, limit: tc.limit}
			tr := &quic.Transport{Conn: link}
			defer tr.Close()
			conn, err := tr.Dial(ctx, lpc.LocalAddr(), tlsConf, qc)
			largest, dropped := link.stats()
			if err != nil {
				t.Fatalf("handshake over a 1280-byte %s link: %v (largest datagram %d, %d dropped)", tc.network, err, largest, dropped)
			}
			defer conn.CloseWithError(0, "")
			if dropped != 0 || largest > tc.limit {
				t.Fatalf("handshake over a 1280-byte %s link: largest datagram %d bytes (limit %d), %d dropped", tc.network, largest, tc.limit, dropped)
			}
			if err := <-accepted; err != nil {
				t.Fatalf("accept: %v", err)
			}
		})
	}
}

// controlTLS returns a home agent's certificate and a device's TLS
// configuration that pins it, for tests that play the home agent with a
// bare QUIC listener.
func controlTLS(t *testing.T) (tls.Certificate, *tls.Config) {
	t.Helper()
	_, haKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	haCert, err := binding.SelfSignedCert(haKey, "home agent")
	if err != nil {
		t.Fatal(err)
	}
	_, devKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := clientTLS(devKey, binding.FingerprintOf(haCert.Certificate[0]))
	if err != nil {
		t.Fatal(err)
	}
	return haCert, conf
}
