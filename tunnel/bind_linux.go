package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

// sharedBind is the conn.Bind of the shared WireGuard+QUIC port. It is
// wireguard-go's StdNetBind (Linux path: recvmmsg/sendmmsg, UDP GRO on
// receive and UDP GSO on send) with three changes:
//
//   - every received batch goes through the demultiplexer, which takes
//     the QUIC datagrams out (copied) and leaves WireGuard's batch intact;
//   - the destination address of every datagram (IP_PKTINFO) survives the
//     splitting of a GRO-coalesced read, so replies leave from the address
//     the peer sent to (StdNetBind reads it from the wrong message and
//     loses it whenever UDP GRO is on);
//   - the listener can be bound to one address, and sockets are opened in
//     the network namespace the Device was created in, with SocketHook.
//
// It is safe for concurrent use.
type sharedBind struct {
	listen netip.Addr // unspecified/invalid = all addresses
	hook   func(fd int) error
	netns  *os.File // network namespace to open sockets in; nil = current
	m      *demux
	log    *slog.Logger

	msgsPool sync.Pool

	// EMSGSIZE handling (bind_send_linux.go).
	sendOversize, sendResegmented, sendDropped atomic.Uint64
	sendLog                                    sendLogger

	// hints carries EMSGSIZE refusals to the Device (sizehint_linux.go);
	// sendHints counts the peer limits they lowered.
	hints     *sizeHints
	sendHints atomic.Uint64

	// dfMu is held shared by every send and exclusively while a socket's
	// Don't Fragment is off (sendFragmented); sendFragCount counts the
	// datagrams sent so.
	dfMu          sync.RWMutex
	sendFragCount atomic.Uint64

	// retired holds the endpoints peers were re-pointed away from
	// (retire.go), published by the Device; nil when there are none,
	// which is nearly always. held counts datagrams it held.
	retired atomic.Pointer[retiredTable]
	held    atomic.Uint64

	mu     sync.Mutex
	open   bool // guarded by mu; between Open and Close
	closed bool // guarded by mu; closed for good (Device closed)
	v4, v6 *net.UDPConn
	v4pc   *ipv4.PacketConn
	v6pc   *ipv6.PacketConn
	v4tx   bool
	v4rx   bool
	v6tx   bool
	v6rx   bool
	port   uint16
	mark   uint32 // SO_MARK of the sockets (SetMark), guarded by mu
}

var _ conn.Bind = (*sharedBind)(nil)

const (
	// socketBufferSize is StdNetBind's socket buffer size (7 MB).
	socketBufferSize = 7 << 20
	// udpSegmentMaxDatagrams is the kernel's limit of GSO segments.
	udpSegmentMaxDatagrams = 64
	maxIPv4PayloadLen      = 1<<16 - 1 - 20 - 8
	maxIPv6PayloadLen      = 1<<16 - 1 - 8
)

func newSharedBind(listen netip.Addr, hook func(int) error, netns *os.File, m *demux, log *slog.Logger) *sharedBind {
	return &sharedBind{
		listen:  listen.Unmap(),
		hook:    hook,
		netns:   netns,
		m:       m,
		log:     log,
		sendLog: sendLogger{log: log},
		hints:   newSizeHints(),
		msgsPool: sync.Pool{New: func() any {
			msgs := make([]ipv6.Message, conn.IdealBatchSize)
			for i := range msgs {
				msgs[i].Buffers = make(net.Buffers, 1)
				msgs[i].OOB = make([]byte, 0, stickyControlSize+gsoControlSize)
			}
			return &msgs
		}},
	}
}

// ParseEndpoint implements conn.Bind.
func (b *sharedBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ep, err := parseEndpoint(s)
	if err != nil {
		return nil, err
	}
	return ep, nil
}

// BatchSize implements conn.Bind.
func (b *sharedBind) BatchSize() int { return conn.IdealBatchSize }

// SetMark implements conn.Bind (SO_MARK on every socket).
func (b *sharedBind) SetMark(mark uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mark = mark
	for _, c := range []*net.UDPConn{b.v4, b.v6} {
		if c == nil {
			continue
		}
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("tunnel: setting SO_MARK: %w", serr)
		}
	}
	return nil
}

// Open implements conn.Bind: it listens on port (0 = random) on the
// configured address, IPv4 and IPv6 on the same port when it listens on
// all addresses.
func (b *sharedBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, 0, net.ErrClosed
	}
	if b.open {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	var v4, v6 *net.UDPConn
	err := runInNetns(b.netns, func() error {
		var err error
		v4, v6, port, err = b.listenLocked(port)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	var fns []conn.ReceiveFunc
	if v4 != nil {
		b.v4tx, b.v4rx = supportsUDPOffload(v4)
		b.v4, b.v4pc = v4, ipv4.NewPacketConn(v4)
		fns = append(fns, b.makeReceive(b.v4pc, b.v4rx))
	}
	if v6 != nil {
		b.v6tx, b.v6rx = supportsUDPOffload(v6)
		b.v6, b.v6pc = v6, ipv6.NewPacketConn(v6)
		fns = append(fns, b.makeReceive(b.v6pc, b.v6rx))
	}
	b.open, b.port = true, port
	b.log.Debug("shared socket open", "port", port, "ipv4", v4 != nil, "ipv6", v6 != nil,
		"gso4", b.v4tx, "gro4", b.v4rx, "gso6", b.v6tx, "gro6", b.v6rx)
	return fns, port, nil
}

// listenLocked opens the sockets.
func (b *sharedBind) listenLocked(uport uint16) (v4, v6 *net.UDPConn, port uint16, err error) {
	switch {
	case b.listen.IsValid() && !b.listen.IsUnspecified() && b.listen.Is4():
		v4, port, err = b.listenNet("udp4", b.listen, uport)
		return v4, nil, port, err
	case b.listen.IsValid() && !b.listen.IsUnspecified():
		v6, port, err = b.listenNet("udp6", b.listen, uport)
		return nil, v6, port, err
	}
	for tries := 0; ; tries++ {
		v4, port, err = b.listenNet("udp4", netip.IPv4Unspecified(), uport)
		if err != nil && !errors.Is(err, syscall.EAFNOSUPPORT) {
			return nil, nil, 0, err
		}
		p := uport
		if v4 != nil {
			p = port
		}
		v6, port, err = b.listenNet("udp6", netip.IPv6Unspecified(), p)
		if uport == 0 && errors.Is(err, syscall.EADDRINUSE) && tries < 100 {
			v4.Close()
			continue
		}
		if err != nil && !errors.Is(err, syscall.EAFNOSUPPORT) {
			if v4 != nil {
				v4.Close()
			}
			return nil, nil, 0, err
		}
		if v4 == nil && v6 == nil {
			return nil, nil, 0, syscall.EAFNOSUPPORT
		}
		if v6 == nil {
			port = p
		}
		return v4, v6, port, nil
	}
}

// listenNet opens one UDP socket with StdNetBind's options and SocketHook.
func (b *sharedBind) listenNet(network string, addr netip.Addr, port uint16) (*net.UDPConn, uint16, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			s := int(fd)
			_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBufferSize)
			_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_SNDBUF, socketBufferSize)
			_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBufferSize)
			_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBufferSize)
			if network == "udp4" {
				if runtime.GOOS != "android" {
					serr = unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
				}
			} else {
				if runtime.GOOS != "android" {
					serr = unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
				}
				if serr == nil {
					serr = unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
				}
			}
			if serr == nil {
				// Don't Fragment on everything (pmtudisc_linux.go).
				serr = setPMTUDisc(s, network)
			}
			if serr == nil && kernelAtLeast(5, 12) {
				// StdNetBind gates UDP_GRO the same way: older kernels
				// cannot report it back.
				_ = unix.SetsockoptInt(s, unix.IPPROTO_UDP, unix.UDP_GRO, 1)
			}
			if serr == nil && b.hook != nil {
				serr = b.hook(s)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, net.JoinHostPort(addr.String(), strconv.Itoa(int(port))))
	if err != nil {
		return nil, 0, err
	}
	c := pc.(*net.UDPConn)
	return c, c.LocalAddr().(*net.UDPAddr).AddrPort().Port(), nil
}

// kernelAtLeast reports whether the running kernel is at least major.minor.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	var v [2]int
	i := 0
	for _, c := range u.Release {
		if c >= '0' && c <= '9' {
			v[i] = v[i]*10 + int(c-'0')
			continue
		}
		i++
		if i == len(v) {
			break
		}
	}
	return v[0] > major || (v[0] == major && v[1] >= minor)
}

// supportsUDPOffload reports whether the socket can do UDP GSO (tx) and
// has UDP GRO enabled (rx).
func supportsUDPOffload(c *net.UDPConn) (tx, rx bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return false, false
	}
	_ = rc.Control(func(fd uintptr) {
		_, e := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		tx = e == nil
		opt, e := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO)
		rx = e == nil && opt == 1
	})
	return tx, rx
}

// runInNetns runs fn on an OS thread in network namespace ns (nil: the
// calling thread's). The thread is discarded afterwards, so a namespace
// switch never leaks into other goroutines. When the calling thread is in
// ns already, fn runs there without setns, which needs CAP_SYS_ADMIN even
// for the same namespace: an Android app has one namespace and no such
// capability.
func runInNetns(ns *os.File, fn func() error) error {
	if ns == nil || inCurrentNetns(ns) {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		// No UnlockOSThread: the thread exits with this goroutine.
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("tunnel: entering network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// inCurrentNetns reports whether the calling thread and the process's main
// thread are both in network namespace ns. Threads not locked to a
// goroutine stay in the main thread's namespace (whoever switches one
// locks it and discards it), so fn may then run on whichever thread the
// scheduler picks.
func inCurrentNetns(ns *os.File) bool {
	var want unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &want); err != nil {
		return false
	}
	for _, p := range []string{"/proc/thread-self/ns/net", "/proc/self/ns/net"} {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil || st.Dev != want.Dev || st.Ino != want.Ino {
			return false
		}
	}
	return true
}

// Close implements conn.Bind. The receive functions return net.ErrClosed
// afterwards. The control side is not affected (see closeForGood).
func (b *sharedBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closeLocked()
}

func (b *sharedBind) closeLocked() error {
	var err1, err2 error
	if b.v4 != nil {
		err1 = b.v4.Close()
	}
	if b.v6 != nil {
		err2 = b.v6.Close()
	}
	b.v4, b.v6, b.v4pc, b.v6pc = nil, nil, nil, nil
	b.v4tx, b.v4rx, b.v6tx, b.v6rx = false, false, false, false
	b.open = false
	return errors.Join(err1, err2)
}

// closeForGood closes the sockets and refuses to reopen them.
func (b *sharedBind) closeForGood() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.closeLocked()
}

// localPort is the port of the open sockets (kept across Rebind).
func (b *sharedBind) localPort() uint16 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.port
}

// localAddr implements controlSender.
func (b *sharedBind) localAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.listen
	if !a.IsValid() {
		a = netip.IPv6Unspecified()
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, b.port))
}

// sendControl implements controlSender: one datagram through the socket
// of to's family, from local when it is known. While a Rebind has the
// sockets closed the datagram is dropped, as a lossy link would.
func (b *sharedBind) sendControl(p []byte, to netip.AddrPort, local netip.Addr) error {
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	b.mu.Lock()
	closed, open := b.closed, b.open
	c := b.v4
	if to.Addr().Is6() {
		c = b.v6
	}
	b.mu.Unlock()
	switch {
	case closed:
		return net.ErrClosed
	case !open:
		return nil
	case c == nil:
		return fmt.Errorf("tunnel: no socket for %v: %w", to, syscall.EAFNOSUPPORT)
	}
	var oob []byte
	if local.IsValid() {
		oob = srcControl(nil, local, 0)
	}
	b.dfMu.RLock() // never while DF is off (sendFragmented)
	_, _, err := c.WriteMsgUDPAddrPort(p, oob, to)
	if err != nil && oob != nil && isSourceGone(err) {
		_, _, err = c.WriteMsgUDPAddrPort(p, nil, to)
	}
	b.dfMu.RUnlock()
	if err != nil && isClosedErr(err) {
		return nil // raced with a Rebind
	}
	return err
}

func isClosedErr(err error) bool { return errors.Is(err, net.ErrClosed) }

// isSourceGone reports a send that failed because the sticky source
// address is no longer on this host.
func isSourceGone(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENETUNREACH)
}

func (b *sharedBind) getMessages() *[]ipv6.Message { return b.msgsPool.Get().(*[]ipv6.Message) }

func (b *sharedBind) putMessages(msgs *[]ipv6.Message) {
	for i := range *msgs {
		(*msgs)[i] = ipv6.Message{Buffers: (*msgs)[i].Buffers, OOB: (*msgs)[i].OOB[:0]}
	}
	b.msgsPool.Put(msgs)
}
