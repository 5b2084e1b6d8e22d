//go:build !android

package netmon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/tunnel"
)

// HostConfig configures a Host.
type HostConfig struct {
	// Handle is the netlink handle (nil = a new one for the calling
	// thread's namespace).
	Handle *netlink.Handle
	// Interface is the tunnel interface the data plane created.
	Interface string
	// WriteResolvConf makes ConfigureTunnel write the announced DNS
	// servers to ResolvConf (restored on Close).
	WriteResolvConf bool
	// ResolvConf is the resolver file (default /etc/resolv.conf).
	ResolvConf string
	// Logger; nil discards.
	Logger *slog.Logger
}

// Host is the Linux client.Host. Routes it installs carry the protocol
// number RouteProtocol so an operator can tell them apart
// (`ip route show proto 0x68`). Safe for concurrent use.
type Host struct {
	cfg  HostConfig
	h    *netlink.Handle
	ownH bool
	log  *slog.Logger

	mu       sync.Mutex
	haRoutes []netlink.Route // home agent host routes
	resolv   *resolvBackup
	closed   bool
}

// RouteProtocol marks the routes a Host installs ("hi" for homeip): the
// one tunnel.ConfigureLink gives the routes into the tunnel.
const RouteProtocol = tunnel.RouteProtocol

type resolvBackup struct {
	link    string // symlink target, if the file was a symlink
	content []byte
	mode    fs.FileMode
}

// NewHost returns a Host for cfg.Interface.
func NewHost(cfg HostConfig) (*Host, error) {
	if cfg.Interface == "" {
		return nil, fmt.Errorf("netmon: host: no tunnel interface: %w", client.ErrInvalid)
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	h := &Host{cfg: cfg, h: cfg.Handle}
	h.log = cfg.Logger
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("component", "netmon")
	if h.h == nil {
		var err error
		if h.h, err = netlink.NewHandle(); err != nil {
			return nil, fmt.Errorf("netmon: netlink handle: %w", err)
		}
		h.ownH = true
	}
	return h, nil
}

// ConfigureTunnel implements client.Host.
func (h *Host) ConfigureTunnel(tc client.TunnelConfig) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("netmon: host: %w", net.ErrClosed)
	}
	lc := tunnel.LinkConfig{MTU: tc.MTU, Addresses: tc.Addresses, Routes: tc.Routes}
	if err := tunnel.ConfigureLink(h.h, h.cfg.Interface, lc); err != nil {
		return fmt.Errorf("netmon: configuring the tunnel: %w", err)
	}
	if h.cfg.WriteResolvConf && len(tc.DNS) > 0 {
		if err := h.writeResolvLocked(tc.DNS, tc.SearchDomain); err != nil {
			return err
		}
	}
	h.log.Info("tunnel configured", "iface", h.cfg.Interface, "addresses", tc.Addresses, "routes", tc.Routes)
	return nil
}

// RouteHomeAgent implements client.Host: a host route per home agent
// address through the link's gateway (or on-link when it has none).
// Addresses of a family the link has no default route for are skipped.
func (h *Host) RouteHomeAgent(addrs []netip.Addr, l client.Link) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("netmon: host: %w", net.ErrClosed)
	}
	var want []netlink.Route
	if l.Index > 0 {
		for _, a := range addrs {
			a = a.Unmap()
			r := netlink.Route{LinkIndex: l.Index, Dst: ipNet(netip.PrefixFrom(a, a.BitLen())), Protocol: RouteProtocol}
			gw, has := l.Gateway4, l.HasDefault4
			if a.Is6() {
				gw, has = l.Gateway6, l.HasDefault6
			}
			if !has {
				continue
			}
			if gw.IsValid() {
				r.Gw = net.IP(gw.AsSlice())
			} else {
				r.Scope = netlink.SCOPE_LINK
			}
			want = append(want, r)
		}
	}
	var errs []error
	for i := range want {
		if err := h.h.RouteReplace(&want[i]); err != nil {
			errs = append(errs, fmt.Errorf("netmon: routing home agent %v via %s: %w", want[i].Dst, l.Name, err))
		}
	}
	for _, old := range h.haRoutes {
		if !slices.ContainsFunc(want, func(r netlink.Route) bool { return r.Dst.String() == old.Dst.String() }) {
			if err := h.h.RouteDel(&old); err != nil && !gone(err) {
				errs = append(errs, fmt.Errorf("netmon: removing home agent route %v: %w", old.Dst, err))
			}
		}
	}
	h.haRoutes = want
	if len(want) > 0 {
		h.log.Info("home agent routed", "link", l.Name, "gw4", l.Gateway4, "gw6", l.Gateway6)
	}
	return errors.Join(errs...)
}

// Close implements client.Host: it removes the home agent routes, the
// tunnel interface's addresses and RouteProtocol routes (gone already if
// the interface is) and restores resolv.conf. Idempotent.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	var errs []error
	for i := range h.haRoutes {
		if err := h.h.RouteDel(&h.haRoutes[i]); err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("netmon: removing home agent route: %w", err))
		}
	}
	h.haRoutes = nil
	if _, err := h.h.LinkByName(h.cfg.Interface); err == nil {
		// The interface is the data plane's: leaving it with no addresses
		// and no routes of ours undoes what ConfigureTunnel did.
		if err := tunnel.ConfigureLink(h.h, h.cfg.Interface, tunnel.LinkConfig{}); err != nil {
			errs = append(errs, fmt.Errorf("netmon: clearing the tunnel: %w", err))
		}
	}
	if h.resolv != nil {
		if err := h.restoreResolvLocked(); err != nil {
			errs = append(errs, err)
		}
	}
	if h.ownH {
		h.h.Close()
	}
	return errors.Join(errs...)
}

func (h *Host) writeResolvLocked(dns []netip.Addr, search string) error {
	p := h.cfg.ResolvConf
	if h.resolv == nil {
		b := &resolvBackup{mode: 0o644}
		if target, err := os.Readlink(p); err == nil {
			b.link = target
		} else if content, err := os.ReadFile(p); err == nil {
			b.content = content
			if fi, err := os.Stat(p); err == nil {
				b.mode = fi.Mode().Perm()
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("netmon: reading %s: %w", p, err)
		}
		h.resolv = b
	}
	var sb strings.Builder
	sb.WriteString("# written by homeip mnode; the original is restored when it stops\n")
	for _, a := range dns {
		fmt.Fprintf(&sb, "nameserver %s\n", a)
	}
	if search != "" {
		fmt.Fprintf(&sb, "search %s\n", search)
	}
	tmp := p + ".homeip.tmp"
	if err := os.WriteFile(tmp, []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("netmon: writing %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("netmon: writing %s: %w", p, err)
	}
	return nil
}

func (h *Host) restoreResolvLocked() error {
	p, b := h.cfg.ResolvConf, h.resolv
	h.resolv = nil
	if b.link != "" {
		os.Remove(p)
		if err := os.Symlink(b.link, p); err != nil {
			return fmt.Errorf("netmon: restoring %s -> %s: %w", p, b.link, err)
		}
		return nil
	}
	if b.content == nil {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("netmon: removing %s: %w", p, err)
		}
		return nil
	}
	if err := os.WriteFile(p, b.content, b.mode); err != nil {
		return fmt.Errorf("netmon: restoring %s: %w", p, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// gone reports errors that mean "already removed".
func gone(err error) bool {
	return errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EADDRNOTAVAIL)
}
