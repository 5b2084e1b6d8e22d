package homeagent

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/homeip/homeip/tunnel"
)

// wgQuickConfig renders device d's configuration in wg-quick(8) format.
func (s *Server) wgQuickConfig(d devInfo, priv tunnel.Key) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# homeip device %s (%s), exported for stock WireGuard apps\n", d.name, d.id)
	b.WriteString("[Interface]\n")
	fmt.Fprintf(&b, "PrivateKey = %s\n", priv)
	var addrs []string
	for _, p := range d.allowedIPs() {
		addrs = append(addrs, p.String())
	}
	fmt.Fprintf(&b, "Address = %s\n", strings.Join(addrs, ", "))
	if !s.cfg.DNSDisabled {
		var dns []string
		for _, a := range []netip.Addr{s.cfg.Tunnel4, s.cfg.Tunnel6} {
			if a.IsValid() {
				dns = append(dns, a.String())
			}
		}
		if len(dns) > 0 {
			dns = append(dns, s.cfg.DNSZone)
			fmt.Fprintf(&b, "DNS = %s\n", strings.Join(dns, ", "))
		}
	}
	fmt.Fprintf(&b, "MTU = %d\n\n", s.cfg.MTU)
	b.WriteString("[Peer]\n")
	fmt.Fprintf(&b, "PublicKey = %s\n", s.id.WGKey.PublicKey())
	if len(s.cfg.PublicAddrs) > 0 {
		fmt.Fprintf(&b, "Endpoint = %s\n", s.cfg.PublicAddrs[0])
	}
	var allowed []string
	for _, a := range []netip.Addr{s.cfg.Tunnel4, s.cfg.Tunnel6} {
		if a.IsValid() {
			allowed = append(allowed, netip.PrefixFrom(a, a.BitLen()).String())
		}
	}
	for _, r := range s.cfg.Routes {
		allowed = append(allowed, r.String())
	}
	fmt.Fprintf(&b, "AllowedIPs = %s\n", strings.Join(allowed, ", "))
	fmt.Fprintf(&b, "PersistentKeepalive = %d\n", int(s.cfg.Keepalive.Seconds()))
	return b.String()
}
