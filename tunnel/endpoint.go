package tunnel

import (
	"net/netip"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/conn"
)

// endpoint is the conn.Endpoint of the shared bind: the peer's address and
// the local address (and interface) its last packet arrived on, which is
// where replies leave from until ClearSrc. wireguard-go sends on an
// endpoint from several goroutines without a lock while ClearSrc may run,
// so the source is swapped atomically; dst never changes.
type endpoint struct {
	dst netip.AddrPort
	src atomic.Pointer[source] // nil = none
}

// source is a sticky source address and the interface it arrived on.
type source struct {
	addr  netip.Addr
	ifidx int32
}

// newEndpoint returns an endpoint for dst with source addr (if valid).
func newEndpoint(dst netip.AddrPort, addr netip.Addr, ifidx int32) *endpoint {
	e := &endpoint{dst: netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())}
	if addr.IsValid() {
		e.src.Store(&source{addr: addr, ifidx: ifidx})
	}
	return e
}

// source returns the sticky source, or the zero source.
func (e *endpoint) source() source {
	if s := e.src.Load(); s != nil {
		return *s
	}
	return source{}
}

var _ conn.Endpoint = (*endpoint)(nil)

// ClearSrc implements conn.Endpoint.
func (e *endpoint) ClearSrc() { e.src.Store(nil) }

// SrcToString implements conn.Endpoint.
func (e *endpoint) SrcToString() string {
	s := e.source()
	if !s.addr.IsValid() {
		return ""
	}
	return s.addr.String()
}

// DstToString implements conn.Endpoint.
func (e *endpoint) DstToString() string { return e.dst.String() }

// DstToBytes implements conn.Endpoint (used for mac2 cookies).
func (e *endpoint) DstToBytes() []byte {
	b, _ := e.dst.MarshalBinary()
	return b
}

// DstIP implements conn.Endpoint.
func (e *endpoint) DstIP() netip.Addr { return e.dst.Addr() }

// SrcIP implements conn.Endpoint.
func (e *endpoint) SrcIP() netip.Addr { return e.source().addr }

// parseEndpoint parses "ip:port" (IPv6 in brackets) into an endpoint.
func parseEndpoint(s string) (*endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	if err := CheckEndpoint(ap); err != nil {
		return nil, err
	}
	return newEndpoint(ap, netip.Addr{}, 0), nil
}
