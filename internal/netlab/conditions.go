package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// LinkID names one of mn's two access links.
type LinkID int

// The access links.
const (
	LinkWifi LinkID = iota // wlan0, behind the Wi-Fi router
	LinkCell               // wwan0, behind the cell router and the carrier
)

// String names the link.
func (id LinkID) String() string {
	switch id {
	case LinkWifi:
		return "wifi"
	case LinkCell:
		return "cell"
	}
	return fmt.Sprintf("LinkID(%d)", int(id))
}

// access is what the lab knows about one access link: its nodes and
// interfaces and its configuration.
type access struct {
	id      LinkID
	cfg     LinkConfig
	mnIface string // mn's end
	router  *Node  // the access router
	lan     string // the router's end of the access link
	nats    []*Node
	// upstream is the node and interface that transmits into the
	// router's wan0 (ha's wifi0, or the carrier's lan0).
	upstream      *Node
	upstreamIface string
	gw4, gw6      netip.Addr // the router's upstream gateways
	mn4, mn6      []netip.Addr
}

func (l *Lab) access(id LinkID) *access {
	if id == LinkWifi {
		return &access{
			id: LinkWifi, cfg: l.net.Wifi, mnIface: WifiIface, router: l.Wifi, lan: wifiLAN,
			nats: []*Node{l.Wifi}, upstream: l.HA, upstreamIface: "wifi0",
			gw4: HAWifi4, gw6: HAWifi6,
			mn4: []netip.Addr{MNWifiA4, MNWifiB4}, mn6: []netip.Addr{MNWifiA6, MNWifiB6},
		}
	}
	return &access{
		id: LinkCell, cfg: l.net.Cell, mnIface: CellIface, router: l.Cell, lan: cellRAN,
		nats: []*Node{l.Cell, l.Carrier}, upstream: l.Carrier, upstreamIface: "lan0",
		gw4: CarrierIn4, gw6: CarrierIn6,
		mn4: []netip.Addr{MNCell4}, mn6: []netip.Addr{MNCell6},
	}
}

// Network returns the lab's access-network configuration (with the
// changes SetPath made).
func (l *Lab) Network() Network {
	l.moveMu.Lock()
	defer l.moveMu.Unlock()
	return l.net
}

// natScript returns the masquerading NAT of a router stage. With
// NATSymmetric (fully-random) every new mapping picks a random public
// port, so flushing the conntrack table really moves a flow to another
// port.
func natScript(b NATBehavior) string {
	flags := " fully-random"
	if b == NATPortPreserving {
		flags = ""
	}
	return `table ip homeip_nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan0" masquerade` + flags + `
	}
}
`
}

// conditionsScript is the nftables table of an access router that holds
// the link's loss rules (prerouting, before conntrack and before the delay
// relay's queue) and the silent path's ICMP drops (output: ICMP errors the
// router itself generates).
func conditionsScript(a *access) string {
	var b strings.Builder
	// Declared and flushed first, so that the script also replaces an
	// earlier version (SetPath).
	b.WriteString("table inet homeip_link\nflush table inet homeip_link\n")
	b.WriteString("table inet homeip_link {\n")
	b.WriteString("\tchain pre {\n\t\ttype filter hook prerouting priority raw - 10; policy accept;\n")
	if a.cfg.Loss > 0 {
		n := int(a.cfg.Loss*10000 + 0.5)
		b.WriteString("\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept\n")
		for _, dev := range []string{a.lan, routerWAN} {
			fmt.Fprintf(&b, "\t\tiifname %q numgen random mod 10000 < %d counter drop\n", dev, n)
		}
	}
	b.WriteString("\t}\n")
	b.WriteString("\tchain out {\n\t\ttype filter hook output priority filter; policy accept;\n")
	if a.cfg.SilentPath {
		b.WriteString("\t\ticmp type destination-unreachable icmp code frag-needed counter drop\n")
		b.WriteString("\t\ticmpv6 type packet-too-big counter drop\n")
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// configureLinks applies the Network to both access links.
func (l *Lab) configureLinks(ctx context.Context) error {
	for _, id := range []LinkID{LinkWifi, LinkCell} {
		a := l.access(id)
		if err := l.configureLink(ctx, a); err != nil {
			return fmt.Errorf("netlab: configuring %s link (%v): %w", id, a.cfg, err)
		}
	}
	return nil
}

func (l *Lab) configureLink(ctx context.Context, a *access) error {
	c := a.cfg
	// Link MTU, on both ends.
	if c.MTU != 0 {
		if err := l.MN.ip(ctx, fmt.Sprintf("link set dev %s mtu %d", a.mnIface, c.MTU)); err != nil {
			return err
		}
		if err := a.router.ip(ctx, fmt.Sprintf("link set dev %s mtu %d", a.lan, c.MTU)); err != nil {
			return err
		}
	}
	// Loss and delay act on packets; a GSO super-packet of 40 segments
	// must not be lost or delayed as one. The two transmitters into the
	// router (mn's interface upstream, ha's or the carrier's downstream)
	// hand over single packets.
	if c.Loss > 0 || c.Delay > 0 {
		if err := l.MN.ip(ctx, fmt.Sprintf("link set dev %s gso_max_segs 1", a.mnIface)); err != nil {
			return err
		}
		if err := a.upstream.ip(ctx, fmt.Sprintf("link set dev %s gso_max_segs 1", a.upstreamIface)); err != nil {
			return err
		}
	}
	if err := l.applyPath(ctx, a); err != nil {
		return err
	}
	if c.NATUDPTimeout != 0 {
		secs := strconv.Itoa(int(c.NATUDPTimeout / time.Second))
		for _, n := range a.nats {
			if err := n.sysctls(map[string]string{
				"net/netfilter/nf_conntrack_udp_timeout":        secs,
				"net/netfilter/nf_conntrack_udp_timeout_stream": secs,
			}); err != nil {
				return err
			}
		}
	}
	if c.Delay > 0 {
		if err := l.startDelay(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// applyPath sets the router's route MTUs and its ICMP rules for a's
// PathMTU and SilentPath (and its loss rules), replacing earlier ones.
func (l *Lab) applyPath(ctx context.Context, a *access) error {
	c := a.cfg
	mtu := ""
	if c.PathMTU != 0 {
		// Locked, so that forwarding honours them for IPv6 as well.
		mtu = fmt.Sprintf(" mtu lock %d", c.PathMTU)
	}
	if c.PathMTU != 0 || l.pathSet[a.id] {
		cmds := []string{
			"route replace 0.0.0.0/0 via " + a.gw4.String() + mtu,
			"route replace ::/0 via " + a.gw6.String() + mtu,
		}
		for _, ad := range append(append([]netip.Addr(nil), a.mn4...), a.mn6...) {
			host := netip.PrefixFrom(ad, ad.BitLen())
			if c.PathMTU != 0 {
				cmds = append(cmds, fmt.Sprintf("route replace %s dev %s%s", host, a.lan, mtu))
			} else {
				cmds = append(cmds, fmt.Sprintf("route del %s dev %s", host, a.lan))
			}
		}
		if err := a.router.ip(ctx, cmds...); err != nil {
			return err
		}
		l.pathSet[a.id] = c.PathMTU != 0
	}
	return a.router.nft(ctx, conditionsScript(a))
}

// SetPath changes the path MTU behind an access link while the lab runs,
// with no event at mn: mtu 0 removes the bottleneck, silent makes it a
// black hole (see LinkConfig.PathMTU and SilentPath). It is the move
// "the path behind the link shrinks (silently)", and with
// SetPath(ctx, LinkWifi, 1280, true) while mn is on Wi-Fi, the move onto
// a silent-drop path without changing links.
func (l *Lab) SetPath(ctx context.Context, id LinkID, mtu int, silent bool) error {
	if l.isClosed() {
		return ErrClosed
	}
	if id != LinkWifi && id != LinkCell {
		return fmt.Errorf("%w: unknown link %v", ErrBadNetwork, id)
	}
	l.moveMu.Lock()
	defer l.moveMu.Unlock()
	a := l.access(id)
	a.cfg.PathMTU, a.cfg.SilentPath = mtu, silent
	if err := a.cfg.Validate(); err != nil {
		return fmt.Errorf("netlab: setting %s path: %w", id, err)
	}
	if err := l.applyPath(ctx, a); err != nil {
		return fmt.Errorf("netlab: setting %s path to mtu %d (silent %v): %w", id, mtu, silent, err)
	}
	if id == LinkWifi {
		l.net.Wifi = a.cfg
	} else {
		l.net.Cell = a.cfg
	}
	l.log.Info("path changed", "link", id.String(), "mtu", mtu, "silent", silent)
	return nil
}
