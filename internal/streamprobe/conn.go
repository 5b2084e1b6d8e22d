package streamprobe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// peerConn is a net.Conn over an unconnected packet socket: it reads from
// anyone and writes to whoever it last heard from (the way WireGuard
// follows a roaming peer).
type peerConn struct {
	net.PacketConn
	mu   sync.Mutex // guards peer
	peer net.Addr
}

// NewPeerConn returns a net.Conn over an unconnected packet socket (a UDP
// listener). It writes to the address it last received from; until it has
// received anything, Write fails. Send on such a conn first waits for the
// receiver's hello. Closing the conn closes pc.
func NewPeerConn(pc net.PacketConn) net.Conn { return &peerConn{PacketConn: pc} }

func (c *peerConn) Read(b []byte) (int, error) {
	n, from, err := c.PacketConn.ReadFrom(b)
	if err != nil {
		return n, err
	}
	c.mu.Lock()
	c.peer = from
	c.mu.Unlock()
	return n, nil
}

func (c *peerConn) Write(b []byte) (int, error) {
	p := c.peerAddr()
	if p == nil {
		return 0, errors.New("streamprobe: no peer heard from yet")
	}
	return c.PacketConn.WriteTo(b, p)
}

func (c *peerConn) peerAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peer
}

func (c *peerConn) RemoteAddr() net.Addr {
	if p := c.peerAddr(); p != nil {
		return p
	}
	return &net.UDPAddr{}
}

func isDatagram(c net.Conn) bool {
	switch c.LocalAddr().Network() {
	case "udp", "udp4", "udp6":
		return true
	}
	return false
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// classify maps a transport error to the package's sentinels.
func classify(err error, idle time.Duration, doing string) error {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return fmt.Errorf("%w: nothing %s for %v", ErrStalled, doing, idle)
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED):
		return fmt.Errorf("%w: %s: %w", ErrReset, doing, err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %s: %w", ErrIncomplete, doing, err)
	}
	return fmt.Errorf("streamprobe: %s: %w", doing, err)
}

// transient reports errors a datagram socket survives (an ICMP error
// reported on a later call, a route briefly missing during a move).
func transient(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.EADDRNOTAVAIL) ||
		errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.EINVAL)
}

// interruptOnDone sets a past deadline on conn when ctx ends, unblocking
// reads and writes. The returned stop function returns after the deadline
// has been set, or guarantees it never will be.
func interruptOnDone(ctx context.Context, set func(time.Time) error) (stop func()) {
	fired := make(chan struct{})
	stopAF := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = set(time.Unix(1, 0))
	})
	return func() {
		if !stopAF() {
			<-fired
		}
	}
}
