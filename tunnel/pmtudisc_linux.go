package tunnel

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// The shared socket sends every datagram, WireGuard and QUIC, with Don't
// Fragment and refuses what exceeds the path MTU the kernel knows
// (IP_PMTUDISC_DO, IPV6_PMTUDISC_DO):
//
//   - QUIC's path MTU discovery (DPLPMTUD, RFC 8899) needs DF: a probe
//     fragmented on its way would be acknowledged and "confirm" a size
//     the path does not carry. quic-go runs it only when it can set DF
//     itself (controlConn.SyscallConn).
//   - DO rather than PROBE (which quic-go would choose on a socket of its
//     own): PROBE checks only the local interface's MTU, DO also the
//     path MTU the kernel learned from ICMP. So a datagram the path
//     cannot carry is refused with EMSGSIZE at once rather than lost
//     downstream, QUIC's probes above a size the kernel knows fail fast
//     (quic-go counts a refused probe as lost and searches lower), and
//     EMSGSIZE on WireGuard data is a hint that lowers the peer's limit
//     before the search concludes (sizehint_linux.go).
//   - WireGuard data fits the per-peer limit (SetPeerMTU, enforced by the
//     TUN filter), so DF costs it nothing once the limit is right.
//   - A datagram the kernel refuses (a GSO batch is first re-sent segment
//     by segment) is sent again with DF off (sendFragmented), so the
//     kernel fragments it to the path MTU it knows, as it did before the
//     socket set DF: WireGuard data sent before the peer's limit came
//     down, and inner IPv6 packets of up to 1280 bytes let through over a
//     limit below 1280 (IPv6 links must carry 1280), which rely on outer
//     fragmentation. Across a silent black hole nothing is refused and
//     those are lost, as they were before.
const (
	pmtuDiscV4 = unix.IP_PMTUDISC_DO
	pmtuDiscV6 = unix.IPV6_PMTUDISC_DO
)

// setPMTUDisc applies the path MTU discovery mode to socket fd of network
// "udp4" or "udp6".
func setPMTUDisc(fd int, network string) error {
	if network == "udp4" {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, pmtuDiscV4); err != nil {
			return fmt.Errorf("tunnel: setting IP_MTU_DISCOVER: %w", err)
		}
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, pmtuDiscV6); err != nil {
		return fmt.Errorf("tunnel: setting IPV6_MTU_DISCOVER: %w", err)
	}
	return nil
}

// controlFDs implements controlSender: fn runs on each open socket's
// descriptor (IPv4, then IPv6), under the lock that Open, Close and
// Rebind take, and the socket's path MTU discovery mode is applied again
// afterwards, so that what quic-go sets (IP_PMTUDISC_PROBE) does not
// replace the Bind's choice. A Rebind opens new sockets with the Bind's
// options, including DF, whatever fn did to the old ones.
func (b *sharedBind) controlFDs(fn func(fd uintptr)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return net.ErrClosed
	}
	for _, s := range []struct {
		c       *net.UDPConn
		network string
	}{{b.v4, "udp4"}, {b.v6, "udp6"}} {
		if s.c == nil {
			continue
		}
		rc, err := s.c.SyscallConn()
		if err != nil {
			return fmt.Errorf("tunnel: shared socket: %w", err)
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			fn(fd)
			serr = setPMTUDisc(int(fd), s.network)
		}); err != nil {
			return fmt.Errorf("tunnel: shared socket: %w", err)
		}
		if serr != nil {
			return serr
		}
	}
	return nil
}

// kernelPathMTU returns the path MTU the kernel knows toward dst, from src
// when it is valid and still on the host, with fwmark mark, in network
// namespace ns: the route's MTU, or the smaller one an ICMP "fragmentation
// needed" / "packet too big" taught it (IP_MTU / IPV6_MTU of a UDP socket
// connected to dst; connecting sends nothing).
func kernelPathMTU(ns *os.File, dst netip.AddrPort, src netip.Addr, mark uint32) (int, error) {
	var mtu int
	err := runInNetns(ns, func() error {
		family, level, opt := unix.AF_INET, unix.IPPROTO_IP, unix.IP_MTU
		var to, from unix.Sockaddr
		if d := dst.Addr().Unmap(); d.Is4() {
			to = &unix.SockaddrInet4{Port: int(dst.Port()), Addr: d.As4()}
			if s := src.Unmap(); s.Is4() {
				from = &unix.SockaddrInet4{Addr: s.As4()}
			}
		} else {
			family, level, opt = unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_MTU
			to = &unix.SockaddrInet6{Port: int(dst.Port()), Addr: d.As16()}
			if s := src.Unmap(); s.Is6() {
				from = &unix.SockaddrInet6{Addr: s.As16()}
			}
		}
		fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if mark != 0 {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark))
		}
		if from != nil {
			// A source gone from the host: the route from any source.
			_ = unix.Bind(fd, from)
		}
		if err := unix.Connect(fd, to); err != nil {
			return err
		}
		mtu, err = unix.GetsockoptInt(fd, level, opt)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("tunnel: path MTU toward %v: %w", dst, err)
	}
	return mtu, nil
}
