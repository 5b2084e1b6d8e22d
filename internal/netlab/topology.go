package netlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Interfaces inside the namespaces (names are per namespace, so two labs
// never collide):
//
//	cn:      eth0 ─── lan0 :ha
//	ha:      wifi0 ── wan0 :wifi      ha: cell0 ── wan0 :carrier
//	wifi:    lan0 ─── wlan0 :mn
//	carrier: lan0 ─── wan0 :cell
//	cell:    ran0 ─── wwan0 :mn
const (
	routerWAN = "wan0" // uplink of every router; NAT happens on the way out of it
	wifiLAN   = "lan0" // the Wi-Fi router's side of mn's wlan0
	cellRAN   = "ran0" // the cell router's side of mn's wwan0
)

// sysctls applied in every namespace before any interface exists, so the
// "default" values reach every interface created later.
var baseSysctls = map[string]string{
	"net/ipv4/conf/all/rp_filter":      "0",
	"net/ipv4/conf/default/rp_filter":  "0",
	"net/ipv6/conf/all/accept_dad":     "0",
	"net/ipv6/conf/default/accept_dad": "0",
	"net/ipv6/conf/all/accept_ra":      "0",
	"net/ipv6/conf/default/accept_ra":  "0",
	"net/ipv6/conf/all/autoconf":       "0",
	"net/ipv6/conf/default/autoconf":   "0",
}

var routerSysctls = map[string]string{
	"net/ipv4/ip_forward":          "1",
	"net/ipv6/conf/all/forwarding": "1",
}

// blackholeScript prepares the Wi-Fi router's (empty) drop chains that
// BlackholeWifi fills.
const blackholeScript = `table inet homeip_blackhole {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
	}
	chain post {
		type filter hook postrouting priority filter; policy accept;
	}
}
`

func (l *Lab) build(ctx context.Context) error {
	for _, n := range l.Nodes() {
		if err := l.addNamespace(ctx, n); err != nil {
			return err
		}
		sys := baseSysctls
		if n != l.CN && n != l.MN {
			sys = merge(baseSysctls, routerSysctls)
		}
		if err := n.sysctls(sys); err != nil {
			return err
		}
	}
	// veth pairs, created directly in their two namespaces.
	pairs := []struct {
		a  *Node
		ai string
		b  *Node
		bi string
	}{
		{l.CN, "eth0", l.HA, "lan0"},
		{l.HA, "wifi0", l.Wifi, routerWAN},
		{l.HA, "cell0", l.Carrier, routerWAN},
		{l.Carrier, "lan0", l.Cell, routerWAN},
		{l.Wifi, wifiLAN, l.MN, WifiIface},
		{l.Cell, cellRAN, l.MN, CellIface},
	}
	for _, p := range pairs {
		if err := p.a.ip(ctx, fmt.Sprintf("link add %s type veth peer name %s netns %s", p.ai, p.bi, p.b.NS)); err != nil {
			return err
		}
	}
	cfg := map[*Node][]string{
		l.CN: {
			"link set lo up",
			"link set eth0 up",
			a4(CN4, HomeLAN4, "eth0"), a6(CN6, HomeLAN6, "eth0"),
			"route add 0.0.0.0/0 via " + HALAN4.String(),
			"route add ::/0 via " + HALAN6.String(),
		},
		l.HA: {
			"link set lo up",
			"addr add " + HAPublic4.String() + "/32 dev lo",
			"addr add " + HAPublic6.String() + "/128 dev lo nodad",
			"link set lan0 up", a4(HALAN4, HomeLAN4, "lan0"), a6(HALAN6, HomeLAN6, "lan0"),
			"link set wifi0 up", a4(HAWifi4, WifiWAN4, "wifi0"), a6(HAWifi6, WifiWAN6, "wifi0"),
			"link set cell0 up", a4(HACell4, CellWAN4, "cell0"), a6(HACell6, CellWAN6, "cell0"),
			"route add " + WifiLANA6.String() + " via " + WifiPublic6.String(),
			"route add " + WifiLANB6.String() + " via " + WifiPublic6.String(),
			"route add " + CellLAN6.String() + " via " + CarrierPublic6.String(),
			"route add " + CarrierLAN6.String() + " via " + CarrierPublic6.String(),
		},
		l.Wifi: {
			"link set lo up",
			"link set wan0 up", a4(WifiPublic4, WifiWAN4, "wan0"), a6(WifiPublic6, WifiWAN6, "wan0"),
			"link set lan0 up",
			a4(WifiRouterA4, WifiLANA4, "lan0"), a4(WifiRouterB4, WifiLANB4, "lan0"),
			a6(WifiRouterA6, WifiLANA6, "lan0"), a6(WifiRouterB6, WifiLANB6, "lan0"),
			"route add 0.0.0.0/0 via " + HAWifi4.String(),
			"route add ::/0 via " + HAWifi6.String(),
		},
		l.Carrier: {
			"link set lo up",
			"link set wan0 up", a4(CarrierPublic4, CellWAN4, "wan0"), a6(CarrierPublic6, CellWAN6, "wan0"),
			"link set lan0 up", a4(CarrierIn4, CarrierLAN4, "lan0"), a6(CarrierIn6, CarrierLAN6, "lan0"),
			"route add 0.0.0.0/0 via " + HACell4.String(),
			"route add ::/0 via " + HACell6.String(),
			"route add " + CellLAN6.String() + " via " + CellUplink6.String(),
		},
		l.Cell: {
			"link set lo up",
			"link set wan0 up", a4(CellUplink4, CarrierLAN4, "wan0"), a6(CellUplink6, CarrierLAN6, "wan0"),
			"link set ran0 up", a4(CellRouter4, CellLAN4, "ran0"), a6(CellRouter6, CellLAN6, "ran0"),
			"route add 0.0.0.0/0 via " + CarrierIn4.String(),
			"route add ::/0 via " + CarrierIn6.String(),
		},
		l.MN: {"link set lo up"},
	}
	for _, n := range l.Nodes() {
		if err := n.ip(ctx, cfg[n]...); err != nil {
			return err
		}
	}
	for _, n := range []*Node{l.Wifi, l.Carrier, l.Cell} {
		b := l.net.Cell.NAT
		if n == l.Wifi {
			b = l.net.Wifi.NAT
		}
		if err := n.nft(ctx, natScript(b)); err != nil {
			return fmt.Errorf("%w: %w", ErrNoNftables, err)
		}
	}
	if err := l.Wifi.nft(ctx, blackholeScript); err != nil {
		return err
	}
	if err := l.configureLinks(ctx); err != nil {
		return err
	}
	if failAfterLinks != nil {
		return failAfterLinks
	}
	l.moveMu.Lock()
	defer l.moveMu.Unlock()
	return l.applyLocked(ctx, l.withWifi(MNState{}))
}

// failAfterLinks, when set (by tests only), fails every build right
// after the access links are configured and their relays started.
var failAfterLinks error

func (l *Lab) addNamespace(ctx context.Context, n *Node) error {
	if l.isClosed() {
		return ErrClosed
	}
	out, err := exec.CommandContext(ctx, "ip", "netns", "add", n.NS).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: ip netns add %s: %w: %s", ErrNoNetns, n.NS, err, strings.TrimSpace(string(out)))
	}
	l.mu.Lock()
	l.nsMade = append(l.nsMade, n)
	l.mu.Unlock()
	return nil
}

// sysctls writes /proc/sys values inside the node's namespace
// (/proc/sys/net is resolved against the opening thread's namespace).
func (n *Node) sysctls(kv map[string]string) error {
	return n.Do(func() error {
		for k, v := range kv {
			if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
				return fmt.Errorf("netlab: %s: sysctl %s=%s: %w", n.NS, k, v, err)
			}
		}
		return nil
	})
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
