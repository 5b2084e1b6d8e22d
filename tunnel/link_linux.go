//go:build linux && !android

package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteProtocol marks the routes ConfigureLink installs ("hi" for
// homeip), so that an operator can tell them apart (`ip route show proto
// 0x68`) and ConfigureLink can tell them from the kernel's own.
const RouteProtocol = netlink.RouteProtocol(0x68)

// ConfigureLink sets the MTU, addresses and routes of interface name as c
// says, removing what c no longer wants, and brings it up, through h
// (nil: a handle for the calling thread's namespace, closed afterwards).
// Calling it again with the same c changes nothing. On error the
// interface may be partly configured; a later call completes it.
func ConfigureLink(h *netlink.Handle, name string, c LinkConfig) error {
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
	if c.MTU > 0 && link.Attrs().MTU != c.MTU {
		if err := h.LinkSetMTU(link, c.MTU); err != nil {
			return fmt.Errorf("tunnel: setting MTU %d on %s: %w", c.MTU, name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("tunnel: bringing %s up: %w", name, err)
	}
	if err := setAddrs(h, link, c.Addresses); err != nil {
		return err
	}
	return setRoutes(h, link, c.Routes)
}

// configureLink is what New uses: ConfigureLink here, a refusal on
// Android.
func configureLink(h *NetlinkHandle, name string, c LinkConfig) error {
	return ConfigureLink(h, name, c)
}

// setAddrs makes want exactly the addresses of link, IPv6 link-local
// ones aside.
func setAddrs(h *netlink.Handle, link netlink.Link, want []netip.Prefix) error {
	name := link.Attrs().Name
	have, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("tunnel: listing addresses of %s: %w", name, err)
	}
	want = slices.Clone(want)
	for i, p := range want {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			want[i] = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96) // as the kernel will list it
		}
	}
	// Wanted ones first: an interface left without IPv4 addresses, even
	// for a moment, loses every IPv4 route through it.
	var errs []error
	for _, p := range want {
		a := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			// No duplicate address detection on a point-to-point tunnel:
			// the address is usable at once.
			a.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrReplace(link, a); err != nil {
			errs = append(errs, fmt.Errorf("tunnel: adding address %v to %s: %w", p, name, err))
		}
	}
	for _, a := range have {
		p, ok := prefixOf(a.IPNet)
		if !ok || p.Addr().IsLinkLocalUnicast() || slices.Contains(want, p) {
			continue
		}
		if err := h.AddrDel(link, &a); err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("tunnel: removing address %v from %s: %w", p, name, err))
		}
	}
	return errors.Join(errs...)
}

// setRoutes makes want exactly the RouteProtocol routes through link.
func setRoutes(h *netlink.Handle, link netlink.Link, want []netip.Prefix) error {
	name, index := link.Attrs().Name, link.Attrs().Index
	masked := make([]netip.Prefix, len(want))
	for i, p := range want {
		masked[i] = p.Masked()
	}
	have, err := h.RouteListFiltered(netlink.FAMILY_ALL,
		&netlink.Route{LinkIndex: index, Protocol: RouteProtocol},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return fmt.Errorf("tunnel: listing routes through %s: %w", name, err)
	}
	var errs []error
	for _, r := range have {
		if p, ok := prefixOf(r.Dst); ok && slices.Contains(masked, p) {
			continue
		}
		if err := h.RouteDel(&r); err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("tunnel: removing route %v via %s: %w", r.Dst, name, err))
		}
	}
	for _, p := range masked {
		r := &netlink.Route{LinkIndex: index, Dst: ipNet(p), Scope: netlink.SCOPE_LINK, Protocol: RouteProtocol}
		if err := h.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("tunnel: adding route %v via %s: %w", p, name, err))
		}
	}
	return errors.Join(errs...)
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

// prefixOf converts back from netlink; a nil n is not a prefix.
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// gone reports errors that mean "already removed".
func gone(err error) bool {
	return errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EADDRNOTAVAIL)
}
