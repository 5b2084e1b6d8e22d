package tunnel

import (
	"net/netip"

	"golang.zx2c4.com/wireguard/conn"
)

// endpoint is the conn.Endpoint of the shared bind: the peer's address and
// the local address (and interface) its last packet arrived on, which is
// where replies leave from until ClearSrc.
type endpoint struct {
	dst   netip.AddrPort
	src   netip.Addr
	ifidx int32
}

var _ conn.Endpoint = (*endpoint)(nil)

// ClearSrc implements conn.Endpoint.
func (e *endpoint) ClearSrc() { e.src, e.ifidx = netip.Addr{}, 0 }

// SrcToString implements conn.Endpoint.
func (e *endpoint) SrcToString() string {
	if !e.src.IsValid() {
		return ""
	}
	return e.src.String()
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
func (e *endpoint) SrcIP() netip.Addr { return e.src }

// parseEndpoint parses "ip:port" (IPv6 in brackets) into an endpoint.
func parseEndpoint(s string) (*endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	if err := CheckEndpoint(ap); err != nil {
		return nil, err
	}
	return &endpoint{dst: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
}
