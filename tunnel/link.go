package tunnel

import "net/netip"

// LinkConfig is what ConfigureLink makes of a tunnel interface.
type LinkConfig struct {
	// MTU is the interface MTU; 0 leaves it as it is.
	MTU int
	// Addresses are exactly the addresses the interface keeps (IPv6 ones
	// without duplicate address detection: usable at once). Others are
	// removed, except IPv6 link-local ones, which the kernel manages.
	Addresses []netip.Prefix
	// Routes are exactly the destinations routed on-link into the
	// interface with protocol RouteProtocol (Linux). Other RouteProtocol
	// routes through the interface are removed; routes of any other
	// protocol (the kernel's prefix routes for Addresses among them) are
	// left alone.
	Routes []netip.Prefix
}
