package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/homeip/homeip/binding"
)

// field describes one setting once for all three sources.
type field struct {
	key  string // TOML key; the env variable is HOMEIP_HA_ + upper(key)
	flag string // command line flag name
	list bool   // repeatable flag, TOML array, comma-separated env
	bool bool   // a boolean: the flag needs no value
	help string
	// set parses one value into c; for a list it appends.
	set func(c *Config, v string) error
	// get formats the current value(s) of c; nil when unset.
	get func(c *Config) []string
	// reset clears a list before a source sets it anew.
	reset func(c *Config)
}

// fields is the table of every setting, in the order of the example file
// (the store's settings, store.go, come last).
var fields = append([]field{
	strField("data_dir", "data-dir", "directory of the store, identity and default pools", func(c *Config) *string { return &c.DataDir }),
	addrPortField("listen", "listen", "UDP address shared by WireGuard and QUIC", func(c *Config) *netip.AddrPort { return &c.Listen }),
	endpointsField("public_addrs", "public-addr", "address devices reach the home agent at (repeatable; goes into tokens)", func(c *Config) *[]netip.AddrPort { return &c.PublicAddrs }),
	strField("admin_socket", "admin-socket", "Unix socket of the admin API", func(c *Config) *string { return &c.AdminSocket }),
	{key: "interface", flag: "interface", help: "name of the WireGuard interface",
		set: func(c *Config, v string) error {
			if len(v) == 0 || len(v) > 15 || strings.ContainsAny(v, "/ \t\n\x00") {
				return fmt.Errorf("interface name %q: 1 to 15 characters, no spaces or slashes", v)
			}
			c.Interface = v
			return nil
		},
		get: func(c *Config) []string { return strs(c.Interface) }},
	intField("mtu", "mtu", "MTU of the WireGuard interface", 1280, 9000, func(c *Config) *int { return &c.MTU }),
	prefixesField("pool4", "pool4", "IPv4 VIP prefix (repeatable)", true, func(c *Config) *[]netip.Prefix { return &c.Pool4 }),
	prefixesField("pool6", "pool6", "IPv6 VIP prefix (repeatable)", false, func(c *Config) *[]netip.Prefix { return &c.Pool6 }),
	addrField("tunnel4", "tunnel4", "home agent's IPv4 tunnel address", true, func(c *Config) *netip.Addr { return &c.Tunnel4 }),
	addrField("tunnel6", "tunnel6", "home agent's IPv6 tunnel address", false, func(c *Config) *netip.Addr { return &c.Tunnel6 }),
	{key: "routes", flag: "route", list: true, help: "prefix announced to devices (repeatable)",
		set: func(c *Config, v string) error {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return fmt.Errorf("route %q: %v", v, err)
			}
			c.Routes = append(c.Routes, p.Masked())
			return nil
		},
		get:   func(c *Config) []string { return fmtList(c.Routes) },
		reset: func(c *Config) { c.Routes = nil }},
	{key: "dns_zone", flag: "dns-zone", help: "DNS zone of device names",
		set: func(c *Config, v string) error {
			z := strings.TrimSuffix(strings.ToLower(v), ".")
			if !validZone(z) {
				return fmt.Errorf("dns zone %q: not a domain name", v)
			}
			c.DNSZone = z
			return nil
		},
		get: func(c *Config) []string { return strs(c.DNSZone) }},
	intField("dns_port", "dns-port", "port of the DNS server on the tunnel addresses", 1, 65535, func(c *Config) *int { return &c.DNSPort }),
	boolField("dns_disabled", "dns-disabled", "turn the DNS server off", func(c *Config) *bool { return &c.DNSDisabled }),
	endpointsField("dns_upstreams", "dns-upstream", "upstream resolver for other names (repeatable; port 53 if none); none set: the host's own resolvers", func(c *Config) *[]netip.AddrPort { return &c.DNSUpstreams }),
	boolField("dns_no_forward", "dns-no-forward", "refuse names outside the zone instead of forwarding them to the host's resolvers", func(c *Config) *bool { return &c.DNSNoForward }),
	addrPortField("metrics", "metrics", "address of the Prometheus /metrics endpoint (off when unset)", func(c *Config) *netip.AddrPort { return &c.Metrics }),
	durField("token_ttl", "token-ttl", "how long an enrolment token stays valid", func(c *Config) *time.Duration { return &c.TokenTTL }),
	durField("lifetime", "lifetime", "longest binding lifetime granted", func(c *Config) *time.Duration { return &c.Lifetime }),
	durField("keepalive", "keepalive", "keepalive interval told to devices", func(c *Config) *time.Duration { return &c.Keepalive }),
	durField("quarantine", "quarantine", "how long released addresses (a deleted device's) stay unused", func(c *Config) *time.Duration { return &c.Quarantine }),
	intField("max_care_of", "max-care-of", "most care-of entries per device", 1, 64, func(c *Config) *int { return &c.MaxCareOf }),
	intField("update_rate", "update-rate", "control messages per second one device may send (burst twice that)", 1, 100000, func(c *Config) *int { return &c.UpdateRate }),
	endpointsField("drain_to", "drain-to", "other home agent `ha drain` switches devices to (repeatable)", func(c *Config) *[]netip.AddrPort { return &c.DrainTo }),
	{key: "drain_fingerprint", flag: "drain-fingerprint", help: "certificate fingerprint of the drain_to home agent",
		set: func(c *Config, v string) error {
			if _, err := binding.ParseFingerprint(v); err != nil {
				return fmt.Errorf("drain fingerprint %q: want sha256:... as `ha serve` prints it", v)
			}
			c.DrainFingerprint = v
			return nil
		},
		get: func(c *Config) []string { return strs(c.DrainFingerprint) }},
	{key: "log_level", flag: "log-level", help: "debug, info, warn or error",
		set: func(c *Config, v string) error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("log level %q: want debug, info, warn or error", v)
			}
			c.LogLevel = l
			return nil
		},
		get: func(c *Config) []string {
			if c.LogLevel == 0 {
				return nil
			}
			return []string{strings.ToLower(c.LogLevel.String())}
		}},
	durField("shutdown_timeout", "shutdown-timeout", "bound on a clean shutdown", func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
}, storeFields...)

func fieldByKey(key string) (field, bool) {
	for _, f := range fields {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

func strs(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func fmtList[T fmt.Stringer](xs []T) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.String())
	}
	return out
}

func strField(key, flag, help string, p func(*Config) *string) field {
	return field{key: key, flag: flag, help: help,
		set: func(c *Config, v string) error {
			if v == "" || strings.ContainsRune(v, 0) {
				return fmt.Errorf("%s: must be a non-empty path", key)
			}
			*p(c) = v
			return nil
		},
		get: func(c *Config) []string { return strs(*p(c)) }}
}

func boolField(key, flag, help string, p func(*Config) *bool) field {
	return field{key: key, flag: flag, help: help, bool: true,
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s %q: want true or false", key, v)
			}
			*p(c) = b
			return nil
		},
		get: func(c *Config) []string {
			if !*p(c) {
				return nil
			}
			return []string{"true"}
		}}
}

func intField(key, flag, help string, lo, hi int, p func(*Config) *int) field {
	return field{key: key, flag: flag, help: help,
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("%s %q: want an integer from %d to %d", key, v, lo, hi)
			}
			*p(c) = n
			return nil
		},
		get: func(c *Config) []string {
			if *p(c) == 0 {
				return nil
			}
			return []string{strconv.Itoa(*p(c))}
		}}
}

func durField(key, flag, help string, p func(*Config) *time.Duration) field {
	return field{key: key, flag: flag, help: help,
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > 100*365*24*time.Hour {
				return fmt.Errorf("%s %q: want a positive duration such as 30s, 10m or 24h", key, v)
			}
			*p(c) = d
			return nil
		},
		get: func(c *Config) []string {
			if *p(c) == 0 {
				return nil
			}
			return []string{p(c).String()}
		}}
}

func addrPortField(key, flag, help string, p func(*Config) *netip.AddrPort) field {
	return field{key: key, flag: flag, help: help,
		set: func(c *Config, v string) error {
			ap, err := parseEndpoint(v, 0)
			if err != nil {
				return fmt.Errorf("%s: %v", key, err)
			}
			*p(c) = ap
			return nil
		},
		get: func(c *Config) []string {
			if !p(c).IsValid() {
				return nil
			}
			return []string{p(c).String()}
		}}
}

func endpointsField(key, flag, help string, p func(*Config) *[]netip.AddrPort) field {
	return field{key: key, flag: flag, help: help, list: true,
		set: func(c *Config, v string) error {
			ap, err := parseEndpoint(v, 0)
			if err != nil {
				return fmt.Errorf("%s: %v", key, err)
			}
			*p(c) = append(*p(c), ap)
			return nil
		},
		get:   func(c *Config) []string { return fmtList(*p(c)) },
		reset: func(c *Config) { *p(c) = nil }}
}

func prefixesField(key, flag, help string, v4 bool, p func(*Config) *[]netip.Prefix) field {
	return field{key: key, flag: flag, help: help, list: true,
		set: func(c *Config, v string) error {
			pf, err := netip.ParsePrefix(v)
			if err != nil {
				return fmt.Errorf("%s %q: %v", key, v, err)
			}
			if pf.Addr().Is4() != v4 || pf.Addr().Is4In6() {
				return fmt.Errorf("%s %q: wrong address family", key, v)
			}
			if pf != pf.Masked() {
				return fmt.Errorf("%s %q: host bits set (did you mean %v?)", key, v, pf.Masked())
			}
			if (v4 && pf.Bits() > 30) || (!v4 && pf.Bits() > 126) {
				return fmt.Errorf("%s %q: too small to hold devices", key, v)
			}
			*p(c) = append(*p(c), pf)
			return nil
		},
		get:   func(c *Config) []string { return fmtList(*p(c)) },
		reset: func(c *Config) { *p(c) = nil }}
}

func addrField(key, flag, help string, v4 bool, p func(*Config) *netip.Addr) field {
	return field{key: key, flag: flag, help: help,
		set: func(c *Config, v string) error {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return fmt.Errorf("%s %q: %v", key, v, err)
			}
			if a.Is4() != v4 || a.Is4In6() || a.Zone() != "" {
				return fmt.Errorf("%s %q: wrong address family", key, v)
			}
			*p(c) = a
			return nil
		},
		get: func(c *Config) []string {
			if !p(c).IsValid() {
				return nil
			}
			return []string{p(c).String()}
		}}
}

// parseEndpoint parses "addr", "addr:port" or "[v6]:port"; a bare address
// gets defPort.
func parseEndpoint(v string, defPort uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(v); err == nil {
		if ap.Addr().Zone() != "" {
			return netip.AddrPort{}, fmt.Errorf("%q: zones are not supported", v)
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: want an address or address:port", v)
	}
	if a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%q: zones are not supported", v)
	}
	return netip.AddrPortFrom(a.Unmap(), defPort), nil
}

func validZone(z string) bool {
	if len(z) == 0 || len(z) > 200 {
		return false
	}
	for _, label := range strings.Split(z, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
