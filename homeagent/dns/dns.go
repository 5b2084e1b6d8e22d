// Package dns is the home agent's DNS server (github.com/miekg/dns). It
// listens on the home agent's tunnel addresses and answers, for queries that
// arrive through the tunnel only:
//
//   - <device>.<zone> A and AAAA with the device's VIPs (NODATA when the
//     device has no address of that family, NXDOMAIN for unknown names);
//   - PTR for the VIPs (in-addr.arpa and ip6.arpa);
//   - every other name is forwarded to the configured upstreams, or, when
//     none are configured, to the host's own resolvers (HostResolvers); it
//     is REFUSED when there are none of either or forwarding is off.
//
// "Through the tunnel" is checked twice: the server binds to the tunnel
// addresses only, and it answers a query only when its source address is a
// VIP (Directory.IsVIP). WireGuard's AllowedIPs guarantee that a packet with
// a VIP source came from that VIP's device. Anything else gets no answer at
// all, so the home agent is never an open resolver or an oracle for device
// names.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// Directory is what the server asks about devices. It must be safe for
// concurrent use; the home agent implements it over its registry.
type Directory interface {
	// LookupName returns the VIPs of the device called name (lower case,
	// without the zone); ok is false for an unknown device.
	LookupName(name string) (v4, v6 netip.Addr, ok bool)
	// LookupAddr returns the name of the device holding VIP a.
	LookupAddr(a netip.Addr) (name string, ok bool)
	// IsVIP reports whether a is a VIP of an active device, i.e. whether a
	// query from a came through the tunnel.
	IsVIP(a netip.Addr) bool
}

// Config configures a Server. Zone and Directory are required.
type Config struct {
	// Zone is the domain device names live in ("homeip.internal").
	Zone string
	// Listen are the addresses to serve on, UDP and TCP (the tunnel
	// addresses, port 53).
	Listen []netip.AddrPort
	// Upstreams receive the queries for other names, in order.
	Upstreams []netip.AddrPort
	// Host, when Upstreams is empty, supplies the host's own resolvers
	// instead; with neither, other names are REFUSED.
	Host *HostResolvers
	// Directory answers the device lookups.
	Directory Directory
	// TTL of the answers; default 60 s.
	TTL time.Duration
	// ForwardTimeout bounds one upstream exchange; default 2 s.
	ForwardTimeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Server serves DNS on the configured addresses. Create with New, start
// with Start, stop with Close. Safe for concurrent use.
type Server struct {
	cfg  Config
	zone string // canonical, with trailing dot
	log  *slog.Logger

	mu      sync.Mutex
	servers []*mdns.Server
	closed  bool
	wg      sync.WaitGroup
}

// New returns a server for cfg; it does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.Directory == nil || cfg.Zone == "" {
		return nil, errors.New("dns: zone and directory are required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 60 * time.Second
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, zone: mdns.CanonicalName(cfg.Zone), log: log.With("component", "dns")}, nil
}

// Start binds UDP and TCP sockets on every listen address and serves them
// in goroutines the Server owns. On error nothing stays bound.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("dns: start: %w", net.ErrClosed)
	}
	var started []*mdns.Server
	fail := func(err error) error {
		for _, srv := range started {
			srv.Shutdown()
		}
		return err
	}
	for _, ap := range s.cfg.Listen {
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return fail(fmt.Errorf("dns: listening on udp %v: %w", ap, err))
		}
		started = append(started, &mdns.Server{PacketConn: pc, Handler: s})
		// Same port as UDP, also when ap asked for any port (0).
		tcpAddr := netip.AddrPortFrom(ap.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(tcpAddr))
		if err != nil {
			pc.Close()
			return fail(fmt.Errorf("dns: listening on tcp %v: %w", ap, err))
		}
		started = append(started, &mdns.Server{Listener: ln, Handler: s})
	}
	for _, srv := range started {
		srv := srv
		ready := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(ready) }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				s.log.Debug("dns server stopped", "err", err)
			}
		}()
		<-ready
	}
	s.servers = append(s.servers, started...)
	for _, ap := range s.cfg.Listen {
		s.log.Info("dns listening", "addr", ap, "zone", s.zone)
	}
	return nil
}

// Addrs returns the bound UDP addresses (useful with port 0 in tests).
func (s *Server) Addrs() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []netip.AddrPort
	for _, srv := range s.servers {
		if srv.PacketConn != nil {
			out = append(out, srv.PacketConn.LocalAddr().(*net.UDPAddr).AddrPort())
		}
	}
	return out
}

// Close stops every listener and waits for the serving goroutines.
// Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	for _, srv := range servers {
		srv.Shutdown()
	}
	s.wg.Wait()
	return nil
}

// ServeDNS implements mdns.Handler.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	src := addrOf(w.RemoteAddr())
	if !src.IsValid() || !s.cfg.Directory.IsVIP(src) {
		// Not from the tunnel: no answer at all.
		s.log.Debug("dns query dropped: source is not a VIP", "src", w.RemoteAddr())
		return
	}
	resp := s.Answer(context.Background(), req)
	if resp == nil {
		return
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("dns reply failed", "err", err)
	}
}

func addrOf(a net.Addr) netip.Addr {
	switch x := a.(type) {
	case *net.UDPAddr:
		return x.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return x.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// Answer computes the reply to req (already known to come through the
// tunnel). It returns nil for messages that deserve no answer (responses,
// not queries).
func (s *Server) Answer(ctx context.Context, req *mdns.Msg) *mdns.Msg {
	if req.Response {
		return nil
	}
	resp := new(mdns.Msg)
	if req.Opcode != mdns.OpcodeQuery || len(req.Question) != 1 {
		resp.SetRcode(req, mdns.RcodeNotImplemented)
		if len(req.Question) != 1 {
			resp.SetRcode(req, mdns.RcodeFormatError)
		}
		return resp
	}
	q := req.Question[0]
	name := mdns.CanonicalName(q.Name)
	switch {
	case q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY:
		resp.SetRcode(req, mdns.RcodeRefused)
		return resp
	case mdns.IsSubDomain(s.zone, name):
		return s.answerZone(req, name, q.Qtype)
	case q.Qtype == mdns.TypePTR && (strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.")):
		if a, ok := reverseAddr(name); ok {
			if dev, ok := s.cfg.Directory.LookupAddr(a); ok {
				resp.SetReply(req)
				resp.Authoritative = true
				resp.Answer = append(resp.Answer, &mdns.PTR{Hdr: s.hdr(name, mdns.TypePTR), Ptr: dev + "." + s.zone})
				return resp
			}
		}
	}
	return s.forward(ctx, req)
}

func (s *Server) hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: uint32(s.cfg.TTL / time.Second)}
}

func (s *Server) soa() mdns.RR {
	return &mdns.SOA{Hdr: s.hdr(s.zone, mdns.TypeSOA), Ns: "ns." + s.zone, Mbox: "hostmaster." + s.zone,
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: uint32(s.cfg.TTL / time.Second)}
}

func (s *Server) answerZone(req *mdns.Msg, name string, qtype uint16) *mdns.Msg {
	resp := new(mdns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	if name == s.zone {
		if qtype == mdns.TypeSOA || qtype == mdns.TypeANY {
			resp.Answer = append(resp.Answer, s.soa())
		} else {
			resp.Ns = append(resp.Ns, s.soa())
		}
		return resp
	}
	label := strings.TrimSuffix(name, "."+s.zone)
	v4, v6, ok := s.cfg.Directory.LookupName(label)
	if !ok || strings.Contains(label, ".") {
		resp.SetRcode(req, mdns.RcodeNameError)
		resp.Authoritative = true
		resp.Ns = append(resp.Ns, s.soa())
		return resp
	}
	if (qtype == mdns.TypeA || qtype == mdns.TypeANY) && v4.IsValid() {
		resp.Answer = append(resp.Answer, &mdns.A{Hdr: s.hdr(name, mdns.TypeA), A: v4.AsSlice()})
	}
	if (qtype == mdns.TypeAAAA || qtype == mdns.TypeANY) && v6.IsValid() {
		resp.Answer = append(resp.Answer, &mdns.AAAA{Hdr: s.hdr(name, mdns.TypeAAAA), AAAA: v6.AsSlice()})
	}
	if len(resp.Answer) == 0 {
		resp.Ns = append(resp.Ns, s.soa()) // NODATA
	}
	return resp
}

func (s *Server) forward(ctx context.Context, req *mdns.Msg) *mdns.Msg {
	ups := s.cfg.Upstreams
	if len(ups) == 0 && s.cfg.Host != nil {
		ups, _ = s.cfg.Host.Upstreams()
	}
	if len(ups) == 0 {
		resp := new(mdns.Msg)
		resp.SetRcode(req, mdns.RcodeRefused)
		return resp
	}
	c := &mdns.Client{Net: "udp", Timeout: s.cfg.ForwardTimeout}
	var lastErr error
	for _, up := range ups {
		resp, _, err := c.ExchangeContext(ctx, req, up.String())
		if err == nil && resp != nil && resp.Truncated {
			tc := &mdns.Client{Net: "tcp", Timeout: s.cfg.ForwardTimeout}
			resp, _, err = tc.ExchangeContext(ctx, req, up.String())
		}
		if err == nil && resp != nil {
			return resp
		}
		lastErr = err
	}
	s.log.Warn("dns forwarding failed", "err", lastErr)
	resp := new(mdns.Msg)
	resp.SetRcode(req, mdns.RcodeServerFailure)
	return resp
}

// reverseAddr parses an in-addr.arpa or ip6.arpa name back into an address.
func reverseAddr(name string) (netip.Addr, bool) {
	name = strings.TrimSuffix(name, ".")
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 4 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(parts[3] + "." + parts[2] + "." + parts[1] + "." + parts[0])
		return a, err == nil
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		nibbles := strings.Split(rest, ".")
		if len(nibbles) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, n := range nibbles {
			if len(n) != 1 {
				return netip.Addr{}, false
			}
			v := strings.IndexByte("0123456789abcdef", n[0])
			if v < 0 {
				return netip.Addr{}, false
			}
			pos := 31 - i
			if pos%2 == 0 {
				b[pos/2] |= byte(v) << 4
			} else {
				b[pos/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
