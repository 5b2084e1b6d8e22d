// Package config is the home agent's configuration: a plain-data Config
// with a useful zero value, the defaults applied in one place
// (WithDefaults), and the three sources that override each other in this
// order: the config file (TOML), the environment (HOMEIP_HA_*), and the
// command line flags.
//
// Every setting is described once, in the fields table (fields.go): its TOML
// key, its flag, its environment variable and its parser. The file, the
// environment and the flags all go through the same parser, so a value that
// is valid in one place is valid in all of them. Unknown keys and invalid
// values are errors that name the line of the file and the reason.
//
// # Default pools
//
// A zero-configuration home agent has no pools in its Config. The server
// then asks DefaultPools, which picks them once, at first start, and persists
// them in the data directory, so they never change under leased devices:
//
//   - IPv6: the first /64 of a random unique local /48 (RFC 4193,
//     fdXX:XXXX:XXXX::/48). Random ULA prefixes are the standard way to avoid
//     clashes between sites; two homeip installations, or a homeip site and a
//     corporate network, collide with probability ~2^-40.
//   - IPv4: a /16 chosen at random inside 10.64.0.0/11 (10.64.0.0 to
//     10.95.255.255). That stays clear of the low 10.0–10.31 range that home
//     routers, cloud VPC defaults (Azure 10.0/16, AWS examples) and OpenVPN
//     (10.8.0.0/24) use; of Kubernetes' service range 10.96.0.0/12, k3s
//     (10.42/10.43), Flannel (10.244/16) and GCP auto-mode VPCs (10.128/9);
//     of 172.16.0.0/12 (Docker) and 192.168.0.0/16 (home LANs); and of
//     100.64.0.0/10, which carrier-grade NAT and Tailscale use: a mobile node
//     behind CGNAT must never see its VIP inside its own uplink's range.
//     Randomising the /16 keeps two homeip sites apart as well.
//
// The home agent's own tunnel addresses default to the first host address of
// the first prefix of each family (.1 and ::1).
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/homeip/homeip/binding"
)

// ErrInvalid is wrapped by every error about a bad setting.
var ErrInvalid = errors.New("config: invalid")

// Defaults of the settings whose zero value means "default".
const (
	DefaultDataDir         = "/var/lib/homeip"
	DefaultAdminSocket     = "/run/homeip/ha.sock"
	DefaultInterface       = "homeip0"
	DefaultPort            = binding.DefaultPort
	DefaultDNSZone         = "homeip.internal"
	DefaultDNSPort         = 53
	DefaultTokenTTL        = 24 * time.Hour
	DefaultLifetime        = 5 * time.Minute
	DefaultKeepalive       = 25 * time.Second
	DefaultQuarantine      = 24 * time.Hour
	DefaultMTU             = 1420
	DefaultMaxCareOf       = 4
	DefaultUpdateRate      = 10
	DefaultShutdownTimeout = 5 * time.Second
)

// Config is the home agent's configuration. The zero value is valid: every
// zero field means its default (see WithDefaults), and the pools, when
// empty, are chosen and persisted at first start (DefaultPools).
type Config struct {
	// DataDir holds the store, the identity and the persisted default
	// pools.
	DataDir string
	// Listen is the one UDP address WireGuard and QUIC share.
	Listen netip.AddrPort
	// PublicAddrs are the addresses devices reach the home agent at; they go
	// into enrolment tokens. A zero port means Listen's port. Default: the
	// listen address when it is specific.
	PublicAddrs []netip.AddrPort
	// PublicAddrsDetected says PublicAddrs were taken from the host's
	// interfaces (ha serve without --public-addr), not configured; no file,
	// flag or variable sets it.
	PublicAddrsDetected bool
	// AdminSocket is the Unix socket of the admin API (mode 0600).
	AdminSocket string
	// Interface is the name of the WireGuard interface.
	Interface string
	// MTU of the WireGuard interface.
	MTU int
	// Pool4 and Pool6 are the VIP prefixes.
	Pool4, Pool6 []netip.Prefix
	// Tunnel4 and Tunnel6 are the home agent's own addresses on the tunnel
	// (DNS listens there). Never leased.
	Tunnel4, Tunnel6 netip.Addr
	// Routes are announced to devices (the home LAN).
	Routes []netip.Prefix
	// DNSZone is the zone device names live in: <device>.<zone>.
	DNSZone string
	// DNSPort is the port DNS listens on at the tunnel addresses.
	DNSPort int
	// DNSDisabled turns the DNS server off.
	DNSDisabled bool
	// DNSUpstreams get the queries for names outside the zone. None: the
	// host's own resolvers get them (its resolv.conf), unless
	// DNSNoForward.
	DNSUpstreams []netip.AddrPort
	// DNSNoForward refuses names outside the zone instead of forwarding
	// them to the host's resolvers.
	DNSNoForward bool
	// Metrics is the address of the Prometheus endpoint; zero means off.
	Metrics netip.AddrPort
	// TokenTTL is how long an enrolment token stays redeemable.
	TokenTTL time.Duration
	// Lifetime is the longest binding lifetime granted.
	Lifetime time.Duration
	// Keepalive is the keepalive interval told to devices.
	Keepalive time.Duration
	// Quarantine is how long released addresses (a deleted device's, a
	// lease moved by a reservation) stay unused.
	Quarantine time.Duration
	// MaxCareOf is the most care-of entries a device may bind at once.
	MaxCareOf int
	// UpdateRate is how many control messages (registrations, binding
	// updates, deregistrations, heartbeats) per second one device may send
	// (burst: twice as many); more are refused as rate limited.
	UpdateRate int
	// DrainTo lists the control addresses of the other home agent devices
	// are switched to by `ha drain`, best first.
	DrainTo []netip.AddrPort
	// DrainFingerprint is that home agent's certificate fingerprint
	// ("sha256:..."), which devices pin.
	DrainFingerprint string
	// LogLevel is the minimum level logged.
	LogLevel slog.Level
	// ShutdownTimeout bounds a clean shutdown.
	ShutdownTimeout time.Duration

	// StoreEtcd lists the client endpoints (host:port) of the etcd
	// cluster the store lives on, shared by several home agents; empty
	// means the bbolt file in DataDir (the default). Set by the store
	// setting (ParseStoreURL).
	StoreEtcd []string
	// StoreEtcdTLS connects to them with TLS (etcds://).
	StoreEtcdTLS bool
	// StorePrefix is the etcd key prefix, with a final "/"
	// (DefaultStorePrefix when empty and StoreEtcd is set).
	StorePrefix string
	// StoreCA, StoreCert and StoreKey are PEM files for etcds://: the CA
	// of the members' certificates (empty: the system's roots) and the
	// client certificate and its key.
	StoreCA, StoreCert, StoreKey string
}

// WithDefaults returns c with every zero field replaced by its default. It
// is the one place defaults are applied. Pools are left alone: they come
// from DefaultPools, which needs the data directory.
func (c Config) WithDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if !c.Listen.IsValid() {
		c.Listen = netip.AddrPortFrom(netip.IPv6Unspecified(), DefaultPort)
	} else if c.Listen.Port() == 0 {
		c.Listen = netip.AddrPortFrom(c.Listen.Addr(), DefaultPort)
	}
	if len(c.PublicAddrs) == 0 && !c.Listen.Addr().IsUnspecified() {
		c.PublicAddrs = []netip.AddrPort{c.Listen}
	}
	pubs := make([]netip.AddrPort, len(c.PublicAddrs))
	for i, p := range c.PublicAddrs {
		if p.Port() == 0 {
			p = netip.AddrPortFrom(p.Addr(), c.Listen.Port())
		}
		pubs[i] = p
	}
	if len(pubs) > 0 {
		c.PublicAddrs = pubs
	}
	c.DNSUpstreams = withPort(c.DNSUpstreams, 53)
	c.DrainTo = withPort(c.DrainTo, DefaultPort)
	if c.AdminSocket == "" {
		c.AdminSocket = DefaultAdminSocket
	}
	if c.Interface == "" {
		c.Interface = DefaultInterface
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.DNSZone == "" {
		c.DNSZone = DefaultDNSZone
	}
	if c.DNSPort == 0 {
		c.DNSPort = DefaultDNSPort
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.Lifetime == 0 {
		c.Lifetime = DefaultLifetime
	}
	if c.Keepalive == 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.Quarantine == 0 {
		c.Quarantine = DefaultQuarantine
	}
	if c.MaxCareOf == 0 {
		c.MaxCareOf = DefaultMaxCareOf
	}
	if c.UpdateRate == 0 {
		c.UpdateRate = DefaultUpdateRate
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if len(c.StoreEtcd) > 0 && c.StorePrefix == "" {
		c.StorePrefix = DefaultStorePrefix
	}
	if !c.Tunnel4.IsValid() && len(c.Pool4) > 0 {
		c.Tunnel4 = c.Pool4[0].Masked().Addr().Next()
	}
	if !c.Tunnel6.IsValid() && len(c.Pool6) > 0 {
		c.Tunnel6 = c.Pool6[0].Masked().Addr().Next()
	}
	return c
}

// Validate checks the relations between settings that no single parser can
// see. Call it on the result of WithDefaults after the pools are known.
func (c Config) Validate() error {
	if len(c.Pool4) == 0 && len(c.Pool6) == 0 {
		return fmt.Errorf("%w: no address pool", ErrInvalid)
	}
	if c.Tunnel4.IsValid() && !inAny(c.Tunnel4, c.Pool4) {
		return fmt.Errorf("%w: tunnel4 %v is outside every pool4 prefix", ErrInvalid, c.Tunnel4)
	}
	if c.Tunnel6.IsValid() && !inAny(c.Tunnel6, c.Pool6) {
		return fmt.Errorf("%w: tunnel6 %v is outside every pool6 prefix", ErrInvalid, c.Tunnel6)
	}
	all := append(append([]netip.Prefix{}, c.Pool4...), c.Pool6...)
	for i, a := range all {
		for _, b := range all[i+1:] {
			if a.Overlaps(b) {
				return fmt.Errorf("%w: pools %v and %v overlap", ErrInvalid, a, b)
			}
		}
	}
	if len(c.DrainTo) > 0 && c.DrainFingerprint == "" {
		return fmt.Errorf("%w: drain_to needs drain_fingerprint", ErrInvalid)
	}
	// Every RegisterAck carries the routes and the zone (as the search
	// domain): settings it cannot carry would fail every registration.
	if len(c.Routes) > binding.MaxRoutes {
		return fmt.Errorf("%w: %d routes, at most %d (a registration answer carries them all)", ErrInvalid, len(c.Routes), binding.MaxRoutes)
	}
	if c.DNSNoForward && len(c.DNSUpstreams) > 0 {
		return fmt.Errorf("%w: dns_no_forward and dns_upstreams contradict each other (upstreams %v)", ErrInvalid, c.DNSUpstreams)
	}
	if !c.DNSDisabled && len(c.DNSZone) > binding.MaxStringLen {
		return fmt.Errorf("%w: dns_zone of %d bytes, at most %d", ErrInvalid, len(c.DNSZone), binding.MaxStringLen)
	}
	if len(c.DrainTo) > binding.MaxAddrs {
		return fmt.Errorf("%w: at most %d drain_to addresses", ErrInvalid, binding.MaxAddrs)
	}
	if c.Metrics.IsValid() && c.Metrics.Port() == 0 {
		return fmt.Errorf("%w: metrics address %v has no port", ErrInvalid, c.Metrics)
	}
	if c.Lifetime < time.Second {
		return fmt.Errorf("%w: lifetime %v is shorter than a second", ErrInvalid, c.Lifetime)
	}
	if c.Keepalive >= c.Lifetime {
		return fmt.Errorf("%w: keepalive %v must be shorter than lifetime %v", ErrInvalid, c.Keepalive, c.Lifetime)
	}
	return c.validateStore()
}

func withPort(aps []netip.AddrPort, port uint16) []netip.AddrPort {
	if len(aps) == 0 {
		return aps
	}
	out := make([]netip.AddrPort, len(aps))
	for i, ap := range aps {
		if ap.Port() == 0 {
			ap = netip.AddrPortFrom(ap.Addr(), port)
		}
		out[i] = ap
	}
	return out
}

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// PrivateAddr reports whether a is an address devices on other networks
// cannot reach: RFC 1918, shared address space (RFC 6598, carrier NAT),
// IPv6 unique local, or not global unicast at all.
func PrivateAddr(a netip.Addr) bool {
	a = a.Unmap()
	return !a.IsGlobalUnicast() || a.IsPrivate() || sharedSpace.Contains(a)
}

var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// PublicAddrsWarning is what a user must hear when every address in the
// tokens was detected on the host and none is reachable from elsewhere:
// the home agent is behind a NAT (or on a private network only), and
// devices away from that network will not find it. Empty otherwise.
func (c Config) PublicAddrsWarning() string {
	if !c.PublicAddrsDetected || len(c.PublicAddrs) == 0 {
		return ""
	}
	for _, ap := range c.PublicAddrs {
		if !PrivateAddr(ap.Addr()) {
			return ""
		}
	}
	return fmt.Sprintf("every address in the tokens (%s) is private, detected on this host: devices on other networks cannot reach it; "+
		"if the home agent is behind a NAT, forward UDP port %d to it and start ha with --public-addr <public address>:%d (or public_addrs in the file)",
		fmtAddrPorts(c.PublicAddrs), c.Listen.Port(), c.Listen.Port())
}

func fmtAddrPorts(aps []netip.AddrPort) string {
	s := make([]string, len(aps))
	for i, ap := range aps {
		s[i] = ap.String()
	}
	return strings.Join(s, ", ")
}
