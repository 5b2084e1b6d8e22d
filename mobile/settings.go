package mobile

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/tunnel"
)

// Settings is what the app configures on its TUN before it creates it
// (Android VpnService.Builder, iOS NEPacketTunnelNetworkSettings). List
// fields are comma-separated, each element in CIDR form for prefixes
// ("192.0.2.130/32,2001:db8:100::2/128"), because gobind has no slices
// of strings.
type Settings struct {
	// Addresses are the device's VIPs, /32 and /128
	// (Builder.addAddress).
	Addresses string
	// Routes go into the tunnel (Builder.addRoute): the home networks,
	// the home agent's tunnel addresses, and with a full tunnel
	// 0.0.0.0/0 and ::/0. The node's own UDP socket is protected (Android)
	// or excluded (iOS: HomeAgents as tunnelRemoteAddress), so a full
	// tunnel does not loop.
	Routes string
	// DNS servers inside the tunnel (Builder.addDnsServer), and the
	// search domain (Builder.addSearchDomain); empty when the home agent
	// serves no DNS.
	DNS          string
	SearchDomain string
	// MTU of the TUN (Builder.setMtu).
	MTU int
	// VIP4 and VIP6 are the device's addresses alone (empty when that
	// family is not served).
	VIP4, VIP6 string
	// HomeAgents are the home agent's addresses (ip:port, comma
	// separated); iOS wants one as tunnelRemoteAddress.
	HomeAgents string
}

// settingsFrom computes the Settings of a configuration: the same
// addresses and routes client's node configures on a Linux TUN, except
// that a full tunnel is 0.0.0.0/0 and ::/0 (a mobile OS keeps its own
// default routes apart from the VPN's).
func settingsFrom(cfg client.NetConfig, ha []netip.AddrPort, fullTunnel bool) *Settings {
	s := &Settings{SearchDomain: cfg.SearchDomain, MTU: cfg.MTU}
	if s.MTU <= 0 {
		s.MTU = tunnel.DefaultMTU
	}
	var addrs, routes []netip.Prefix
	if cfg.VIP4.IsValid() {
		addrs = append(addrs, netip.PrefixFrom(cfg.VIP4, 32))
		s.VIP4 = cfg.VIP4.String()
	}
	if cfg.VIP6.IsValid() {
		addrs = append(addrs, netip.PrefixFrom(cfg.VIP6, 128))
		s.VIP6 = cfg.VIP6.String()
	}
	routes = append(routes, cfg.Routes...)
	for _, a := range []netip.Addr{cfg.HATunnel4, cfg.HATunnel6} {
		if a.IsValid() {
			routes = append(routes, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	if fullTunnel {
		routes = append(routes, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
	}
	s.Addresses = joinList(addrs)
	s.Routes = joinList(routes)
	s.DNS = joinList(cfg.DNS)
	s.HomeAgents = joinList(ha)
	return s
}

func joinList[T fmt.Stringer](xs []T) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = x.String()
	}
	return strings.Join(parts, ",")
}

// JSON returns the settings as a JSON object with list fields as arrays,
// for apps that prefer to parse one string.
func (s *Settings) JSON() string {
	split := func(v string) []string {
		if v == "" {
			return []string{}
		}
		return strings.Split(v, ",")
	}
	b, _ := json.Marshal(map[string]any{
		"addresses":     split(s.Addresses),
		"routes":        split(s.Routes),
		"dns":           split(s.DNS),
		"search_domain": s.SearchDomain,
		"mtu":           s.MTU,
		"vip4":          s.VIP4,
		"vip6":          s.VIP6,
		"home_agents":   split(s.HomeAgents),
	})
	return string(b)
}

// fetchTimeout bounds one configuration fetch per home agent address
// (a variable for tests).
var fetchTimeout = 10 * time.Second

// TunnelSettings returns what the app must configure on its TUN before
// creating it. It reads the configuration the home agent gave last, kept
// in stateDir; right after enrolment, when there is none yet, it fetches
// it from the home agent (one registration over a temporary socket, at
// most 10 s per home agent address), so call it off the main thread.
// fullTunnel adds the default routes; pass the same value to Start.
func TunnelSettings(stateDir string, fullTunnel bool) (*Settings, error) {
	dir, err := client.OpenStateDir(stateDir)
	if err != nil {
		return nil, classify(err)
	}
	st, err := dir.Load()
	if err != nil {
		return nil, classify(err)
	}
	cfg := st.Config
	if cfg == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := client.FetchConfig(ctx, dir, client.EnrollOptions{Timeout: fetchTimeout})
		if err != nil {
			return nil, classify(fmt.Errorf("fetching the tunnel configuration: %w", err))
		}
		cfg = &c
	}
	return settingsFrom(*cfg, st.HomeAgent.Addrs, fullTunnel), nil
}
