//go:build linux && !android

package tunnel

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// configureLink sets the MTU, addresses and routes of interface name and
// brings it up, through h (nil: a handle for the calling thread's
// namespace, closed afterwards).
func configureLink(h *netlink.Handle, name string, mtu int, addrs, routes []netip.Prefix) error {
	if h == nil {
		nh, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("tunnel: netlink handle: %w", err)
		}
		defer nh.Close()
		h = nh
	}
	link, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("tunnel: finding link %s: %w", name, err)
	}
	if err := h.LinkSetMTU(link, mtu); err != nil {
		return fmt.Errorf("tunnel: setting MTU %d on %s: %w", mtu, name, err)
	}
	for _, p := range addrs {
		a := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			// No duplicate address detection on a point-to-point tunnel:
			// the address is usable at once.
			a.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrReplace(link, a); err != nil {
			return fmt.Errorf("tunnel: adding address %v to %s: %w", p, name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("tunnel: bringing %s up: %w", name, err)
	}
	for _, p := range routes {
		r := &netlink.Route{
			LinkIndex: link.Attrs().Index,
			Dst:       ipNet(p.Masked()),
			Scope:     netlink.SCOPE_LINK,
		}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("tunnel: adding route %v via %s: %w", p, name, err)
		}
	}
	return nil
}

// ipNet converts at the netlink boundary, the one place net.IP is needed.
func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 128
	}
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}
