//go:build linux && !android

package tunnel

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
)

// silentHop is two Devices whose outer path, IPv4 and IPv6, crosses a
// router with a 1280-byte link further along, while both hosts' own links
// are 1500 bytes, so neither kernel knows:
//
//	ns a                           ns m (router)                       ns b
//	l1 198.18.7.1/24  ----  198.18.7.254 | 198.18.8.254  ----  l1 198.18.8.2/24
//	   2001:db8:7::1/64     2001:db8:7::fe | 2001:db8:8::fe       2001:db8:8::2/64
//	(MTU 1500)              (1500)         (1280, ICMP errors    (MTU 1500)
//	                                        dropped)
//
// From a: the router drops what has DF and does not fit, and its ICMP
// "fragmentation needed" / "packet too big" die; IPv4 without DF is
// fragmented, as routers do. From b: what exceeds 1280 bytes is dropped
// where it enters the router's 1280-byte interface.
type silentHop struct {
	nsA, nsM, nsB string
	a, b          *Device
	kA, kB        Key
}

func newSilentHop(t *testing.T) *silentHop {
	t.Helper()
	requireLab(t)
	pfx := labPrefix(t)
	p := &silentHop{nsA: pfx + "a", nsM: pfx + "m", nsB: pfx + "b"}
	for _, ns := range []string{p.nsA, p.nsM, p.nsB} {
		newNetns(t, ns)
	}
	run(t, "ip", "link", "add", "l1", "netns", p.nsA, "type", "veth", "peer", "name", "ma", "netns", p.nsM)
	run(t, "ip", "link", "add", "l1", "netns", p.nsB, "type", "veth", "peer", "name", "mb", "netns", p.nsM)
	run(t, "ip", "-n", p.nsM, "link", "set", "dev", "mb", "mtu", "1280")
	for _, a := range []struct{ ns, dev, addr string }{
		{p.nsA, "l1", "198.18.7.1/24"}, {p.nsA, "l1", "2001:db8:7::1/64"},
		{p.nsM, "ma", "198.18.7.254/24"}, {p.nsM, "ma", "2001:db8:7::fe/64"},
		{p.nsM, "mb", "198.18.8.254/24"}, {p.nsM, "mb", "2001:db8:8::fe/64"},
		{p.nsB, "l1", "198.18.8.2/24"}, {p.nsB, "l1", "2001:db8:8::2/64"},
	} {
		args := []string{"ip", "-n", a.ns, "addr", "add", a.addr, "dev", a.dev}
		if netip.MustParsePrefix(a.addr).Addr().Is6() {
			args = append(args, "nodad")
		}
		run(t, args...)
	}
	for _, l := range []struct{ ns, dev string }{{p.nsA, "l1"}, {p.nsB, "l1"}, {p.nsM, "ma"}, {p.nsM, "mb"}} {
		run(t, "ip", "-n", l.ns, "link", "set", "dev", l.dev, "up")
	}
	run(t, "ip", "-n", p.nsA, "route", "add", "198.18.8.0/24", "via", "198.18.7.254")
	run(t, "ip", "-n", p.nsA, "route", "add", "2001:db8:8::/64", "via", "2001:db8:7::fe")
	run(t, "ip", "-n", p.nsB, "route", "add", "198.18.7.0/24", "via", "198.18.8.254")
	run(t, "ip", "-n", p.nsB, "route", "add", "2001:db8:7::/64", "via", "2001:db8:8::fe")
	run(t, "ip", "netns", "exec", p.nsM, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	run(t, "ip", "netns", "exec", p.nsM, "nft", "add table inet blackhole; "+
		"add chain inet blackhole out { type filter hook output priority 0; }; "+
		"add rule inet blackhole out icmp type destination-unreachable icmp code frag-needed drop; "+
		"add rule inet blackhole out icmpv6 type packet-too-big drop; "+
		// A veth lets in up to 18 bytes over its MTU: drop those too.
		"add chain inet blackhole fw { type filter hook forward priority 0; }; "+
		"add rule inet blackhole fw iifname mb meta length > 1280 drop")

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
	return p
}

// mtuLog is a qlog trace that keeps the path MTU discovery results
// (qlog.MTUUpdated) of one connection.
type mtuLog struct {
	mu   sync.Mutex
	vals []int
	done bool
	last time.Time
}

func (l *mtuLog) AddProducer() qlogwriter.Recorder { return l }

func (l *mtuLog) RecordEvent(ev qlogwriter.Event) {
	e, ok := ev.(qlog.MTUUpdated)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.vals = append(l.vals, e.Value)
	l.done = l.done || e.Done
	l.last = time.Now()
}

func (l *mtuLog) Close() error { return nil }

// result returns the largest confirmed UDP payload and whether the search
// has ended: quic-go said so, or nothing new came for quiet (a search
// that ends with lost probes just stops).
func (l *mtuLog) result(quiet time.Duration) (int, []int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.vals) == 0 {
		return 0, nil, false
	}
	return l.vals[len(l.vals)-1], append([]int(nil), l.vals...), l.done || time.Since(l.last) > quiet
}

// mtuServer accepts QUIC connections on a Device's ControlConn, reads and
// discards their streams, and keeps a trace of every connection.
type mtuServer struct {
	mu     sync.Mutex
	traces []*mtuLog
}

func (s *mtuServer) newest() *mtuLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.traces) == 0 {
		return nil
	}
	return s.traces[len(s.traces)-1]
}

// quicMTUResolution is how far below the path's real limit quic-go's search may
// stop (mtu_discoverer.go: it stops once the bounds are 21 bytes apart).
const quicMTUResolution = 21

// TestDPLPMTUDSharedSocketLab runs QUIC over the shared sockets of two
// Devices across a silent 1280-byte hop and checks, from quic-go's own
// qlog events, that both ends' path MTU discovery ran and concluded just
// under what the hop carries: 1280-28 bytes of UDP payload over IPv4,
// 1280-48 over IPv6; and again after the dialling side's Rebind, which
// reopens its sockets.
func TestDPLPMTUDSharedSocketLab(t *testing.T) {
	p := newSilentHop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	serverTLS, clientTLS := testTLS(t)

	srv := &mtuServer{}
	srvTr := &quic.Transport{Conn: p.b.ControlConn()}
	defer srvTr.Close()
	ln, err := srvTr.Listen(serverTLS, &quic.Config{
		InitialPacketSize: 1200,
		Tracer: func(context.Context, bool, quic.ConnectionID) qlogwriter.Trace {
			l := &mtuLog{}
			srv.mu.Lock()
			srv.traces = append(srv.traces, l)
			srv.mu.Unlock()
			return l
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			wg.Go(func() {
				for {
					s, err := c.AcceptStream(ctx)
					if err != nil {
						return
					}
					io.Copy(io.Discard, s)
				}
			})
		}
	})

	cliTr := &quic.Transport{Conn: p.a.ControlConn()}
	defer cliTr.Close()

	search := func(t *testing.T, to netip.AddrPort, want int) {
		cli := &mtuLog{}
		conn, err := cliTr.Dial(ctx, net.UDPAddrFromAddrPort(to), clientTLS, &quic.Config{
			InitialPacketSize: 1200,
			Tracer:            func(context.Context, bool, quic.ConnectionID) qlogwriter.Trace { return cli },
		})
		if err != nil {
			t.Fatalf("QUIC dial %v: %v", to, err)
		}
		defer conn.CloseWithError(0, "")
		// Keep the connection busy while the searches run: a stream that
		// writes a little every 20 ms.
		s, err := conn.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var got, gotSrv int
		var vals, valsSrv []int
		for {
			if _, err := s.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			v, vs, done := cli.result(2 * time.Second)
			got, vals = v, vs
			var doneSrv bool
			if l := srv.newest(); l != nil {
				gotSrv, valsSrv, doneSrv = l.result(2 * time.Second)
			}
			if done && doneSrv {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("searches did not conclude: client %v, server %v", vals, valsSrv)
			case <-time.After(20 * time.Millisecond):
			}
		}
		t.Logf("path MTU discovery over %v: client confirmed %v, server confirmed %v (path carries %d)", to, vals, valsSrv, want)
		for _, c := range []struct {
			side string
			v    int
		}{{"client", got}, {"server", gotSrv}} {
			if c.v > want || c.v < want-quicMTUResolution {
				t.Errorf("%s concluded at %d bytes of UDP payload, want %d-%d", c.side, c.v, want-quicMTUResolution, want)
			}
		}
	}

	port := p.b.LocalPort()
	t.Run("IPv4", func(t *testing.T) {
		search(t, netip.MustParseAddrPort(fmt.Sprintf("198.18.8.2:%d", port)), 1280-28)
	})
	t.Run("IPv6", func(t *testing.T) {
		search(t, netip.MustParseAddrPort(fmt.Sprintf("[2001:db8:8::2]:%d", port)), 1280-48)
	})
	if err := p.a.Rebind(); err != nil {
		t.Fatal(err)
	}
	// The router would fragment a's IPv4 probes were DF lost with the
	// old sockets: the search would then conclude near 1452.
	t.Run("IPv4 after Rebind", func(t *testing.T) {
		search(t, netip.MustParseAddrPort(fmt.Sprintf("198.18.8.2:%d", port)), 1280-28)
	})
}
