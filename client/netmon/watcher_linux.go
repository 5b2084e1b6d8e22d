//go:build !android

package netmon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/homeip/homeip/client"
)

// Config configures a Watcher. The zero value watches the current
// network namespace.
type Config struct {
	// Handle is used to read the state; nil means a new handle for the
	// network namespace of the calling thread (or of Namespace).
	Handle *netlink.Handle
	// Namespace, when set, is the namespace whose notifications are
	// subscribed to; Handle must then be bound to the same namespace.
	Namespace *netns.NsHandle
	// Exclude lists interfaces to ignore (the tunnel's own TUN).
	Exclude []string
	// Kinds overrides the kind of named interfaces.
	Kinds map[string]client.Kind
	// SysfsRoot is where interface kinds are read (default
	// /sys/class/net). It is ignored when Namespace is set: /sys shows
	// the namespace it was mounted in.
	SysfsRoot string
	// Logger; nil discards.
	Logger *slog.Logger
}

// Watcher is a client.NetWatcher on netlink. It is safe for concurrent
// use; Close stops its goroutines and waits for them.
type Watcher struct {
	cfg     Config
	h       *netlink.Handle
	ownH    bool
	log     *slog.Logger
	changed chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup

	mu     sync.Mutex
	closed bool
	err    error // subscription failure, reported by State
}

// New subscribes to link, address and route notifications.
func New(cfg Config) (*Watcher, error) {
	w := &Watcher{cfg: cfg, h: cfg.Handle, changed: make(chan struct{}, 1), done: make(chan struct{})}
	w.log = cfg.Logger
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.log = w.log.With("component", "netmon")
	if w.h == nil {
		var err error
		if cfg.Namespace != nil {
			w.h, err = netlink.NewHandleAt(*cfg.Namespace)
		} else {
			w.h, err = netlink.NewHandle()
		}
		if err != nil {
			return nil, fmt.Errorf("netmon: netlink handle: %w", err)
		}
		w.ownH = true
	}
	if w.cfg.SysfsRoot == "" {
		w.cfg.SysfsRoot = "/sys/class/net"
	}
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	routes := make(chan netlink.RouteUpdate, 64)
	onErr := func(err error) {
		w.mu.Lock()
		if !w.closed && w.err == nil {
			w.err = fmt.Errorf("netmon: netlink subscription: %w", err)
		}
		w.mu.Unlock()
		w.signal()
	}
	fail := func(err error) (*Watcher, error) {
		close(w.done)
		if w.ownH {
			w.h.Close()
		}
		return nil, fmt.Errorf("netmon: subscribing to netlink: %w", err)
	}
	if err := netlink.LinkSubscribeWithOptions(links, w.done, netlink.LinkSubscribeOptions{Namespace: cfg.Namespace, ErrorCallback: onErr}); err != nil {
		return fail(err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, w.done, netlink.AddrSubscribeOptions{Namespace: cfg.Namespace, ErrorCallback: onErr}); err != nil {
		return fail(err)
	}
	if err := netlink.RouteSubscribeWithOptions(routes, w.done, netlink.RouteSubscribeOptions{Namespace: cfg.Namespace, ErrorCallback: onErr}); err != nil {
		return fail(err)
	}
	w.wg.Add(3)
	go drain(w, links)
	go drain(w, addrs)
	go drain(w, routes)
	return w, nil
}

// drain turns every update into a coalesced signal until the channel is
// closed (netlink closes it after done).
func drain[T any](w *Watcher, ch <-chan T) {
	defer w.wg.Done()
	for range ch {
		w.signal()
	}
}

func (w *Watcher) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// Changed implements client.NetWatcher.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

// State implements client.NetWatcher: it lists links, their addresses
// and the main table's default routes.
func (w *Watcher) State() (client.State, error) {
	w.mu.Lock()
	err, closed := w.err, w.closed
	w.mu.Unlock()
	if closed {
		return client.State{}, fmt.Errorf("netmon: watcher: %w", net.ErrClosed)
	}
	if err != nil {
		return client.State{}, err
	}
	links, err := w.h.LinkList()
	if err != nil {
		return client.State{}, fmt.Errorf("netmon: listing links: %w", err)
	}
	var st client.State
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || slices.Contains(w.cfg.Exclude, a.Name) {
			continue
		}
		ifc := client.Interface{
			Index: a.Index,
			Name:  a.Name,
			Kind:  w.kind(a.Name),
			Up:    a.Flags&net.FlagUp != 0 && (a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown),
			MTU:   a.MTU,
		}
		addrs, err := w.h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			if errors.Is(err, unix.ENODEV) {
				continue // vanished meanwhile; the next event says so
			}
			return client.State{}, fmt.Errorf("netmon: listing addresses of %s: %w", a.Name, err)
		}
		for _, ad := range addrs {
			if ad.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
				continue // not usable as a source yet (or ever)
			}
			if p, ok := prefixOf(ad.IPNet); ok {
				ifc.Addrs = append(ifc.Addrs, p)
			}
		}
		st.Interfaces = append(st.Interfaces, ifc)
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := w.h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return client.State{}, fmt.Errorf("netmon: listing routes: %w", err)
		}
		for _, r := range routes {
			if r.Dst != nil {
				if ones, _ := r.Dst.Mask.Size(); ones != 0 {
					continue
				}
			}
			if r.Type != unix.RTN_UNICAST && r.Type != 0 {
				continue // unreachable/blackhole/prohibit defaults carry nothing
			}
			dst := netip.MustParsePrefix("0.0.0.0/0")
			if fam == netlink.FAMILY_V6 {
				dst = netip.MustParsePrefix("::/0")
			}
			add := func(idx int, gw net.IP) {
				g, _ := netip.AddrFromSlice(gw)
				st.Routes = append(st.Routes, client.Route{Dst: dst, Gateway: g.Unmap(), Index: idx, Metric: r.Priority})
			}
			if len(r.MultiPath) > 0 {
				for _, nh := range r.MultiPath {
					add(nh.LinkIndex, nh.Gw)
				}
			} else {
				add(r.LinkIndex, r.Gw)
			}
		}
	}
	st.Normalize()
	return st, nil
}

// kind decides an interface's kind.
func (w *Watcher) kind(name string) client.Kind {
	if k, ok := w.cfg.Kinds[name]; ok {
		return k
	}
	if w.cfg.Namespace == nil && !strings.ContainsAny(name, "/.") {
		dir := filepath.Join(w.cfg.SysfsRoot, name)
		if _, err := os.Stat(filepath.Join(dir, "wireless")); err == nil {
			return client.KindWiFi
		}
		if b, err := os.ReadFile(filepath.Join(dir, "uevent")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				switch strings.TrimSpace(line) {
				case "DEVTYPE=wlan":
					return client.KindWiFi
				case "DEVTYPE=wwan":
					return client.KindCellular
				}
			}
		}
	}
	return client.KindFromName(name)
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, bits := n.Mask.Size()
	if bits == 128 && a.Is4() {
		ones -= 96
	}
	return netip.PrefixFrom(a, ones), true
}

// Close stops the subscriptions and waits for the goroutines. Idempotent.
func (w *Watcher) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.wg.Wait()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.done)
	w.wg.Wait()
	if w.ownH {
		w.h.Close()
	}
	return nil
}
