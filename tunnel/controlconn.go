package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// controlSender is what the control side needs from the shared socket.
type controlSender interface {
	// sendControl sends one datagram to to, from local if it is valid.
	sendControl(b []byte, to netip.AddrPort, local netip.Addr) error
	// localAddr is the socket's local address.
	localAddr() net.Addr
	// controlFDs runs fn on the descriptor of each open socket and keeps
	// the socket's own options (controlConn.SyscallConn).
	controlFDs(fn func(fd uintptr)) error
}

// maxReplySources bounds the remembered "which local address did this
// remote send to" entries; the table is reset when it is full.
const maxReplySources = 4096

// controlConn is the QUIC side of the shared socket, a net.PacketConn for
// quic.Transport. It reads the QUIC datagrams the demultiplexer queued and
// writes through whatever socket is current, so it keeps working across a
// Rebind. Replies to a remote leave from the local address that remote
// last sent to. Closing it stops only the control side; the Device closes
// it too. It is safe for concurrent use.
type controlConn struct {
	m *demux
	s controlSender

	rd, wd deadline

	routeSource bool // never send with a sticky source (Config.RouteControlSource)

	mu      sync.Mutex
	sources map[netip.AddrPort]netip.Addr // guarded by mu
}

var _ net.PacketConn = (*controlConn)(nil)

func newControlConn(m *demux, s controlSender) *controlConn {
	return &controlConn{
		m:       m,
		s:       s,
		rd:      makeDeadline(),
		wd:      makeDeadline(),
		sources: make(map[netip.AddrPort]netip.Addr),
	}
}

// ReadFrom implements net.PacketConn. A datagram longer than p is
// truncated, as with a UDP socket.
func (c *controlConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case <-c.m.done:
		return 0, nil, c.opErr("read", net.ErrClosed)
	case <-c.rd.wait():
		return 0, nil, c.opErr("read", os.ErrDeadlineExceeded)
	default:
	}
	select {
	case <-c.m.done:
		return 0, nil, c.opErr("read", net.ErrClosed)
	case <-c.rd.wait():
		return 0, nil, c.opErr("read", os.ErrDeadlineExceeded)
	case d := <-c.m.queue:
		n := copy(p, *d.buf)
		c.m.release(d.buf)
		if d.local.IsValid() {
			c.mu.Lock()
			if len(c.sources) >= maxReplySources {
				clear(c.sources)
			}
			c.sources[d.from] = d.local
			c.mu.Unlock()
		}
		return n, net.UDPAddrFromAddrPort(d.from), nil
	}
}

// WriteTo implements net.PacketConn. addr must be a *net.UDPAddr (or any
// net.Addr whose String is an ip:port).
func (c *controlConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.m.done:
		return 0, c.opErr("write", net.ErrClosed)
	case <-c.wd.wait():
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	default:
	}
	to, err := addrPortOf(addr)
	if err != nil {
		return 0, c.opErr("write", err)
	}
	if err := c.s.sendControl(p, to, c.sourceFor(to)); err != nil {
		return 0, c.opErr("write", err)
	}
	return len(p), nil
}

// sourceFor is the local address that to's datagrams last arrived on, or
// the zero Addr when none is known or sources are routed.
func (c *controlConn) sourceFor(to netip.AddrPort) netip.Addr {
	if c.routeSource {
		return netip.Addr{}
	}
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sources[to]
}

// forgetSources drops every sticky source (after a rebind: the local
// addresses may have changed).
func (c *controlConn) forgetSources() {
	c.mu.Lock()
	clear(c.sources)
	c.mu.Unlock()
}

// addrPortOf converts a net.Addr to an AddrPort without zone surprises.
func addrPortOf(addr net.Addr) (netip.AddrPort, error) {
	switch a := addr.(type) {
	case *net.UDPAddr:
		ap := a.AddrPort()
		if !ap.IsValid() {
			return netip.AddrPort{}, fmt.Errorf("tunnel: invalid address %v", addr)
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	case nil:
		return netip.AddrPort{}, fmt.Errorf("tunnel: nil address")
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("tunnel: address %v: %w", addr, err)
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
}

func (c *controlConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.s.localAddr(), Err: err}
}

// Close implements net.PacketConn: reads and writes fail with
// net.ErrClosed from now on and queued datagrams are discarded. WireGuard
// is not affected. Idempotent.
func (c *controlConn) Close() error {
	c.m.close()
	for {
		select {
		case d := <-c.m.queue:
			c.m.release(d.buf)
		default:
			return nil
		}
	}
}

// LocalAddr implements net.PacketConn.
func (c *controlConn) LocalAddr() net.Addr { return c.s.localAddr() }

// SyscallConn gives quic-go what it needs to run path MTU discovery on
// the shared socket. quic-go (v0.65, wrapConn) enables DPLPMTUD only when
// the net.PacketConn it is given has a SyscallConn whose Control lets it
// set IP_MTU_DISCOVER / IPV6_MTU_DISCOVER (for one family at least) and
// whose LocalAddr is a *net.UDPAddr. Control runs on the shared socket's
// descriptors, which the Bind opens with Don't Fragment set
// (pmtudisc_linux.go) and keeps so: the Bind's mode is re-applied after
// quic-go's own. The control side is still not an OOBCapablePacketConn
// (no ReadMsgUDP), so quic-go reads and writes it one datagram at a time
// with ReadFrom and WriteTo. A datagram the kernel refuses as too big
// fails WriteTo with an error that errors.Is EMSGSIZE, which quic-go
// takes as the loss of that packet (a path MTU probe: the search goes
// lower).
func (c *controlConn) SyscallConn() (syscall.RawConn, error) {
	return controlRawConn{s: c.s}, nil
}

// SetReadBuffer exists so that quic-go does not warn about buffer sizes:
// the shared socket's buffers are sized (7 MB) when it is opened.
func (c *controlConn) SetReadBuffer(int) error { return nil }

// SetWriteBuffer: see SetReadBuffer.
func (c *controlConn) SetWriteBuffer(int) error { return nil }

// SetDeadline implements net.PacketConn.
func (c *controlConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline implements net.PacketConn.
func (c *controlConn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline implements net.PacketConn.
func (c *controlConn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// deadline is a settable deadline whose wait channel is closed once it has
// passed (the pattern of net.Pipe).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer   // guarded by mu
	cancel chan struct{} // guarded by mu; closed when the deadline passed
}

func makeDeadline() deadline { return deadline{cancel: make(chan struct{})} }

// set moves the deadline; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		ch := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(ch) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// wait returns a channel closed when the deadline has passed.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// controlRawConn is the syscall.RawConn of the control side
// (controlConn.SyscallConn). quic-go uses it once, when a Transport
// starts, to size the buffers (already sized) and to set Don't Fragment
// (already set); that it succeeds is what tells quic-go the socket has DF
// and that it may run path MTU discovery. Read and Write are not
// supported: the control side reads from the demultiplexer.
type controlRawConn struct{ s controlSender }

var _ syscall.RawConn = controlRawConn{}

// errRawIO is returned by controlRawConn's Read and Write.
var errRawIO = errors.New("tunnel: the control connection has no socket of its own to read or write")

// Control runs fn on the shared socket's descriptors (controlSender.controlFDs).
func (r controlRawConn) Control(fn func(fd uintptr)) error { return r.s.controlFDs(fn) }

// Read is not supported (errRawIO).
func (controlRawConn) Read(func(fd uintptr) bool) error { return errRawIO }

// Write is not supported (errRawIO).
func (controlRawConn) Write(func(fd uintptr) bool) error { return errRawIO }
