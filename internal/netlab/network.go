package netlab

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Network describes the two access networks of a lab: what the mobile
// node's Wi-Fi and cellular links look like. The zero value is the ideal
// lab (1500-byte MTUs everywhere, no delay, no loss, NATs with the
// kernel's default timeouts, dual stack on both links), which is what
// every lab was before Network existed.
type Network struct {
	// Wifi is mn's wlan0 and the Wi-Fi router (one NAT stage).
	Wifi LinkConfig
	// Cell is mn's wwan0, the cell router and the carrier (two NAT
	// stages).
	Cell LinkConfig
}

// LinkConfig describes one access link: the link between mn and its
// router, the path behind the router, and the NAT(s) on that path. The
// zero value is an ideal link.
type LinkConfig struct {
	// MTU is the MTU of the access link itself, set on both ends (mn's
	// interface and the router's). 0 means 1500. At least 1280, so that
	// IPv6 stays usable.
	MTU int

	// PathMTU, when set, is a smaller MTU further along: the router
	// forwards at most PathMTU bytes towards ha (its default route) and
	// towards mn (host routes to mn's addresses), both with `mtu lock`.
	// Oversize IPv4 packets with DF and all oversize IPv6 packets are
	// dropped; the router answers them with ICMP "fragmentation needed" /
	// ICMPv6 "packet too big" unless SilentPath is set. IPv4 packets
	// without DF are fragmented. 0 means no bottleneck; otherwise at
	// least 1280 and at most the link MTU.
	PathMTU int
	// SilentPath makes the PathMTU bottleneck a black hole for oversize
	// packets: the router's own ICMP frag-needed and ICMPv6 packet-too-big
	// messages are dropped (nftables, output hook), so path MTU discovery
	// never learns anything. Requires PathMTU.
	SilentPath bool

	// Delay is added to every packet crossing the access link, in each
	// direction (so a round trip gains 2×Delay). Done by the lab's
	// NFQUEUE delay relay (see the package documentation).
	Delay time.Duration
	// Jitter varies each packet's delay uniformly within ±Jitter around
	// Delay, without reordering: a packet is never released before the
	// one queued ahead of it, so under dense traffic delays sit in the
	// upper part of the band. At most Delay.
	Jitter time.Duration
	// Loss is the probability, in [0, 0.5], that a packet crossing the
	// access link is dropped, independently in each direction
	// (nftables numgen, resolution 0.0001). Neighbour discovery is exempt,
	// so a move is never slowed by a lost neighbour solicitation.
	Loss float64

	// NATUDPTimeout is how long the NAT(s) on this link keep an idle UDP
	// mapping: both conntrack UDP timeouts (nf_conntrack_udp_timeout and
	// nf_conntrack_udp_timeout_stream) of the router namespaces, so
	// replied and unreplied flows time out alike. 0 keeps the kernel's
	// defaults (30 s unreplied, 120 s once replied). Whole seconds only.
	NATUDPTimeout time.Duration
	// NAT selects the NAT's mapping behaviour; the zero value is
	// NATSymmetric.
	NAT NATBehavior

	// Family selects the IP versions mn gets on this link; the zero
	// value is dual stack.
	Family Family
}

// NATBehavior is how a NAT router maps an inside address and port to a
// public one. Filtering is always address- and port-dependent: a Linux
// masquerade only lets in replies from the exact destination of a
// conntrack entry.
type NATBehavior int

const (
	// NATSymmetric is masquerade with fully-random port allocation: every
	// new flow (5-tuple) gets a fresh random public port, so the same
	// inside port talking to two destinations appears with two different
	// public ports (endpoint-dependent mapping, RFC 4787's "symmetric"
	// NAT), and a flow whose mapping was lost (flush, timeout) reappears
	// on a new port. This is what every lab router did before Network
	// existed.
	NATSymmetric NATBehavior = iota
	// NATPortPreserving is masquerade without fully-random: the public
	// port equals the inside port unless another flow already holds it,
	// so mappings look endpoint-independent in practice (a typical home
	// router) and a lost mapping usually comes back on the same port.
	NATPortPreserving
)

// String names the behaviour.
func (b NATBehavior) String() string {
	switch b {
	case NATSymmetric:
		return "symmetric"
	case NATPortPreserving:
		return "port-preserving"
	}
	return fmt.Sprintf("NATBehavior(%d)", int(b))
}

// Family is the IP versions a link gives mn.
type Family int

const (
	// DualStack gives mn an IPv4 address (behind NAT) and an IPv6
	// address (routed) on the link.
	DualStack Family = iota
	// IPv4Only gives mn only an IPv4 address and route on the link.
	IPv4Only
	// IPv6Only gives mn only an IPv6 address and route on the link (as
	// on IPv6-only mobile networks).
	IPv6Only
)

// String names the family.
func (f Family) String() string {
	switch f {
	case DualStack:
		return "dual-stack"
	case IPv4Only:
		return "ipv4-only"
	case IPv6Only:
		return "ipv6-only"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

func (f Family) has4() bool { return f != IPv6Only }
func (f Family) has6() bool { return f != IPv4Only }

// Default values of a LinkConfig.
const (
	DefaultMTU = 1500 // link MTU when LinkConfig.MTU is 0
	MinMTU     = 1280 // IPv6's minimum link MTU
	MaxMTU     = 9000
)

// ErrBadNetwork means a Network or LinkConfig is invalid.
var ErrBadNetwork = errors.New("netlab: bad network configuration")

// linkMTU returns the effective link MTU.
func (c LinkConfig) linkMTU() int {
	if c.MTU == 0 {
		return DefaultMTU
	}
	return c.MTU
}

// Validate reports whether c is usable, with an error wrapping
// ErrBadNetwork.
func (c LinkConfig) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadNetwork, fmt.Sprintf(format, a...))
	}
	mtu := c.linkMTU()
	if mtu < MinMTU || mtu > MaxMTU {
		return bad("MTU %d outside [%d, %d]", c.MTU, MinMTU, MaxMTU)
	}
	if c.PathMTU != 0 && (c.PathMTU < MinMTU || c.PathMTU > mtu) {
		return bad("path MTU %d outside [%d, link MTU %d]", c.PathMTU, MinMTU, mtu)
	}
	if c.SilentPath && c.PathMTU == 0 {
		return bad("a silent path needs a path MTU")
	}
	if c.Delay < 0 || c.Jitter < 0 || c.Jitter > c.Delay {
		return bad("delay %v, jitter %v: want 0 ≤ jitter ≤ delay", c.Delay, c.Jitter)
	}
	if c.Delay > 10*time.Second {
		return bad("delay %v longer than 10 s", c.Delay)
	}
	if !(c.Loss >= 0 && c.Loss <= 0.5) {
		return bad("loss %v outside [0, 0.5]", c.Loss)
	}
	if c.NATUDPTimeout < 0 || c.NATUDPTimeout%time.Second != 0 {
		return bad("NAT UDP timeout %v: want whole seconds", c.NATUDPTimeout)
	}
	if c.NAT != NATSymmetric && c.NAT != NATPortPreserving {
		return bad("unknown NAT behaviour %d", int(c.NAT))
	}
	if c.Family < DualStack || c.Family > IPv6Only {
		return bad("unknown family %d", int(c.Family))
	}
	return nil
}

// Validate reports whether both links are usable.
func (n Network) Validate() error {
	if err := n.Wifi.Validate(); err != nil {
		return fmt.Errorf("wifi: %w", err)
	}
	if err := n.Cell.Validate(); err != nil {
		return fmt.Errorf("cell: %w", err)
	}
	return nil
}

// String summarises a link, for logs and the lab tool ("ideal" for the
// zero value).
func (c LinkConfig) String() string {
	var parts []string
	if c.MTU != 0 {
		parts = append(parts, fmt.Sprintf("mtu %d", c.MTU))
	}
	if c.PathMTU != 0 {
		s := fmt.Sprintf("path mtu %d", c.PathMTU)
		if c.SilentPath {
			s += " (silent)"
		}
		parts = append(parts, s)
	}
	if c.Delay != 0 {
		s := fmt.Sprintf("rtt +%v", 2*c.Delay)
		if c.Jitter != 0 {
			s += fmt.Sprintf(" ±%v", 2*c.Jitter)
		}
		parts = append(parts, s)
	}
	if c.Loss != 0 {
		parts = append(parts, fmt.Sprintf("loss %.4g%% each way", 100*c.Loss))
	}
	if c.NATUDPTimeout != 0 {
		parts = append(parts, fmt.Sprintf("nat udp timeout %v", c.NATUDPTimeout))
	}
	if c.NAT != NATSymmetric {
		parts = append(parts, "nat "+c.NAT.String())
	}
	if c.Family != DualStack {
		parts = append(parts, c.Family.String())
	}
	if len(parts) == 0 {
		return "ideal"
	}
	return strings.Join(parts, ", ")
}

// Link profiles: what real access links look like. Each is a plain
// value; copy and change it for a variant.
var (
	// IdealProfile is today's lab link: 1500 bytes, no delay, no loss.
	IdealProfile = LinkConfig{}
	// WifiProfile is a home Wi-Fi behind a PPPoE uplink: MTU 1492, 5 ms
	// round trip, a NAT that forgets idle UDP mappings after 30 s.
	WifiProfile = LinkConfig{MTU: 1492, Delay: 2500 * time.Microsecond, NATUDPTimeout: 30 * time.Second}
	// HotelWifiProfile is a Wi-Fi whose uplink (a tunnel further along) has
	// a 1280-byte MTU and filters ICMP: the link says 1500, packets over
	// 1280 bytes vanish without a trace.
	HotelWifiProfile = LinkConfig{PathMTU: 1280, SilentPath: true, Delay: 2500 * time.Microsecond, NATUDPTimeout: 30 * time.Second}
	// CellularProfile is a mobile network: MTU 1280, 60 ms ± 15 ms round
	// trip, 1 % loss each way, carrier NATs that forget idle UDP mappings
	// after 30 s.
	CellularProfile = LinkConfig{MTU: 1280, Delay: 30 * time.Millisecond, Jitter: 7500 * time.Microsecond, Loss: 0.01, NATUDPTimeout: 30 * time.Second}
	// CellularV6Profile is CellularProfile on an IPv6-only mobile network: wwan0
	// gets no IPv4 address at all.
	CellularV6Profile = LinkConfig{MTU: 1280, Delay: 30 * time.Millisecond, Jitter: 7500 * time.Microsecond, Loss: 0.01, NATUDPTimeout: 30 * time.Second, Family: IPv6Only}
)

var linkProfiles = map[string]LinkConfig{
	"ideal":       IdealProfile,
	"wifi":        WifiProfile,
	"hotel":       HotelWifiProfile,
	"cellular":    CellularProfile,
	"cellular-v6": CellularV6Profile,
}

// LinkProfileNames lists the names LinkProfile knows, sorted.
func LinkProfileNames() []string { return sortedKeys(linkProfiles) }

// LinkProfile returns a link profile by name: "ideal", "wifi", "hotel",
// "cellular" or "cellular-v6".
func LinkProfile(name string) (LinkConfig, error) {
	c, ok := linkProfiles[name]
	if !ok {
		return LinkConfig{}, fmt.Errorf("%w: unknown link profile %q (want one of %s)", ErrBadNetwork, name, strings.Join(LinkProfileNames(), ", "))
	}
	return c, nil
}

var networkProfiles = map[string]Network{
	// ideal: today's lab.
	"ideal": {},
	// field: home Wi-Fi (1492, 5 ms) and cellular (1280, 60±15 ms, 1 %).
	"field": {Wifi: WifiProfile, Cell: CellularProfile},
	// hotel: a Wi-Fi with a silent 1280-byte path, and cellular.
	"hotel": {Wifi: HotelWifiProfile, Cell: CellularProfile},
	// field-v6: an IPv4-only home Wi-Fi and an IPv6-only mobile network,
	// so a move between them changes the underlay's IP version.
	"field-v6": {Wifi: withFamily(WifiProfile, IPv4Only), Cell: CellularV6Profile},
}

func withFamily(c LinkConfig, f Family) LinkConfig {
	c.Family = f
	return c
}

// ProfileNames lists the names Profile knows, sorted.
func ProfileNames() []string { return sortedKeys(networkProfiles) }

// Profile returns a whole-lab profile by name:
//
//   - "ideal": the zero Network (1500-byte links, no delay or loss);
//   - "field": Wi-Fi = WifiProfile, cellular = CellularProfile;
//   - "hotel": Wi-Fi = HotelWifiProfile (silent 1280-byte path), cellular =
//     CellularProfile;
//   - "field-v6": an IPv4-only WifiProfile and CellularV6Profile (IPv6 only), for
//     moves between an IPv4 underlay behind NAT and an IPv6 one.
func Profile(name string) (Network, error) {
	n, ok := networkProfiles[name]
	if !ok {
		return Network{}, fmt.Errorf("%w: unknown profile %q (want one of %s)", ErrBadNetwork, name, strings.Join(ProfileNames(), ", "))
	}
	return n, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ParseLink parses a link description: a link profile name, optionally
// followed by overrides, or overrides alone (starting from IdealProfile),
// separated by commas. Overrides are key=value pairs: mtu=N, path-mtu=N,
// silent=BOOL, delay=DURATION, jitter=DURATION, loss=FRACTION (0.01 is
// 1 %), nat-timeout=DURATION, nat=symmetric|port-preserving,
// family=dual|ipv4|ipv6. Examples: "cellular", "cellular,loss=0",
// "mtu=1280,delay=30ms". The result is validated.
func ParseLink(spec string) (LinkConfig, error) {
	var c LinkConfig
	bad := func(format string, a ...any) (LinkConfig, error) {
		return LinkConfig{}, fmt.Errorf("%w: link %q: %s", ErrBadNetwork, spec, fmt.Sprintf(format, a...))
	}
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			if i != 0 {
				return bad("%q: want key=value", part)
			}
			p, err := LinkProfile(part)
			if err != nil {
				return LinkConfig{}, err
			}
			c = p
			continue
		}
		var err error
		switch key {
		case "mtu":
			c.MTU, err = strconv.Atoi(val)
		case "path-mtu":
			c.PathMTU, err = strconv.Atoi(val)
		case "silent":
			c.SilentPath, err = strconv.ParseBool(val)
		case "delay":
			c.Delay, err = time.ParseDuration(val)
		case "jitter":
			c.Jitter, err = time.ParseDuration(val)
		case "loss":
			c.Loss, err = strconv.ParseFloat(val, 64)
		case "nat-timeout":
			c.NATUDPTimeout, err = time.ParseDuration(val)
		case "nat":
			switch val {
			case "symmetric":
				c.NAT = NATSymmetric
			case "port-preserving":
				c.NAT = NATPortPreserving
			default:
				return bad("nat %q: want symmetric or port-preserving", val)
			}
		case "family":
			switch val {
			case "dual":
				c.Family = DualStack
			case "ipv4":
				c.Family = IPv4Only
			case "ipv6":
				c.Family = IPv6Only
			default:
				return bad("family %q: want dual, ipv4 or ipv6", val)
			}
		default:
			return bad("unknown key %q", key)
		}
		if err != nil {
			return bad("%s: %v", key, err)
		}
	}
	if err := c.Validate(); err != nil {
		return LinkConfig{}, fmt.Errorf("link %q: %w", spec, err)
	}
	return c, nil
}
