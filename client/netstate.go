package client

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Kind is the kind of a physical network interface.
type Kind uint8

// Interface kinds, in no particular order; the order of preference is a
// [Preference].
const (
	KindUnknown Kind = iota
	KindWired
	KindWiFi
	KindCellular
)

// String returns the name used in flags and status output.
func (k Kind) String() string {
	switch k {
	case KindWired:
		return "wired"
	case KindWiFi:
		return "wifi"
	case KindCellular:
		return "cellular"
	default:
		return "unknown"
	}
}

// ParseKind parses "wired", "wifi" or "cellular" (also "ethernet", "wlan",
// "wi-fi", "wwan", "mobile").
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "wired", "ethernet", "eth":
		return KindWired, nil
	case "wifi", "wi-fi", "wlan", "wireless":
		return KindWiFi, nil
	case "cellular", "cell", "wwan", "mobile":
		return KindCellular, nil
	}
	return KindUnknown, fmt.Errorf("client: unknown interface kind %q (want wired, wifi or cellular): %w", s, ErrInvalid)
}

// KindFromName guesses an interface's kind from its name when the OS does
// not say: wl* is Wi-Fi, ww* (and rmnet*, ccmni*) is cellular, e* is wired.
func KindFromName(name string) Kind {
	switch {
	case strings.HasPrefix(name, "wl"):
		return KindWiFi
	case strings.HasPrefix(name, "ww"), strings.HasPrefix(name, "rmnet"), strings.HasPrefix(name, "ccmni"):
		return KindCellular
	case strings.HasPrefix(name, "e"):
		return KindWired
	}
	return KindUnknown
}

// Preference orders interface kinds, most preferred first. Kinds not in the
// list rank after every listed kind. The zero value means
// [DefaultPreference].
type Preference []Kind

// DefaultPreference is wired, then Wi-Fi, then cellular.
var DefaultPreference = Preference{KindWired, KindWiFi, KindCellular}

// ParsePreference parses a comma-separated list such as "wifi,wired,cellular".
// Duplicates are an error.
func ParsePreference(s string) (Preference, error) {
	var p Preference
	for _, f := range strings.Split(s, ",") {
		k, err := ParseKind(f)
		if err != nil {
			return nil, err
		}
		if slices.Contains(p, k) {
			return nil, fmt.Errorf("client: interface kind %s listed twice in preference %q: %w", k, s, ErrInvalid)
		}
		p = append(p, k)
	}
	return p, nil
}

// String returns the comma-separated form ParsePreference reads.
func (p Preference) String() string {
	names := make([]string, len(p))
	for i, k := range p {
		names[i] = k.String()
	}
	return strings.Join(names, ",")
}

// rank returns the position of k in p (smaller is better).
func (p Preference) rank(k Kind) int {
	if len(p) == 0 {
		p = DefaultPreference
	}
	if i := slices.Index(p, k); i >= 0 {
		return i
	}
	return len(p)
}

// Interface is one network interface as the movement detector sees it.
type Interface struct {
	Index int
	Name  string
	Kind  Kind
	// Up is true when the link is administratively up and has carrier
	// (operational state up or unknown).
	Up bool
	// Addrs are the interface's addresses, sorted. Only global unicast
	// addresses make an interface usable.
	Addrs []netip.Prefix
	// MTU is the interface's link MTU, 0 when unknown (a phone's OS does
	// not say). It bounds the node's path MTU on a network it has not
	// measured yet (PathMTU).
	MTU int
}

// Route is a default route (0.0.0.0/0 or ::/0) of the main table.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr // zero for a point-to-point link
	Index   int        // outgoing interface
	Metric  int        // priority; lower is preferred
}

// State is a snapshot of the host's network: its interfaces and default
// routes. Watchers produce it; [Diff] compares two of them. A State should
// be treated as immutable once produced.
type State struct {
	Interfaces []Interface // sorted by Index
	Routes     []Route     // default routes only
}

// Normalize sorts interfaces, addresses and routes so that equal networks
// give equal states. Watchers call it before they publish a State.
func (s *State) Normalize() {
	slices.SortFunc(s.Interfaces, func(a, b Interface) int { return a.Index - b.Index })
	for i := range s.Interfaces {
		slices.SortFunc(s.Interfaces[i].Addrs, func(a, b netip.Prefix) int {
			if c := a.Addr().Compare(b.Addr()); c != 0 {
				return c
			}
			return a.Bits() - b.Bits()
		})
		s.Interfaces[i].Addrs = slices.Compact(s.Interfaces[i].Addrs)
	}
	slices.SortFunc(s.Routes, func(a, b Route) int {
		if a.Index != b.Index {
			return a.Index - b.Index
		}
		if a.Dst.Addr().Is4() != b.Dst.Addr().Is4() {
			if a.Dst.Addr().Is4() {
				return -1
			}
			return 1
		}
		if a.Metric != b.Metric {
			return a.Metric - b.Metric
		}
		return a.Gateway.Compare(b.Gateway)
	})
	s.Routes = slices.Compact(s.Routes)
}

// Interface returns the interface with the given index.
func (s State) Interface(index int) (Interface, bool) {
	for _, ifc := range s.Interfaces {
		if ifc.Index == index {
			return ifc, true
		}
	}
	return Interface{}, false
}

// usableAddr reports whether a is an address a care-of address can come
// from: global unicast (private ranges included), not link-local.
func usableAddr(a netip.Addr) bool {
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsLinkLocalUnicast()
}

// globalAddrs returns the interface's usable addresses.
func (i Interface) globalAddrs() []netip.Addr {
	var out []netip.Addr
	for _, p := range i.Addrs {
		if usableAddr(p.Addr()) {
			out = append(out, p.Addr())
		}
	}
	return out
}

// Link is an interface the node can reach the home agent through, with the
// default routes that use it.
type Link struct {
	Interface
	// Gateway4 and Gateway6 are the gateways of the best IPv4 and IPv6
	// default routes through this interface (zero when none, or when the
	// route is point-to-point).
	Gateway4, Gateway6 netip.Addr
	// HasDefault4 and HasDefault6 say whether a default route of that
	// family leaves through this interface.
	HasDefault4, HasDefault6 bool
	// Metric is the lowest metric of the default routes through it.
	Metric int
}

// Usable returns the links the node could use, best first: interfaces that
// are up, have a global address and a default route, ordered by the
// preference of their kind, then by route metric, then by index.
func (s State) Usable(pref Preference) []Link {
	var links []Link
	for _, ifc := range s.Interfaces {
		if !ifc.Up || len(ifc.globalAddrs()) == 0 {
			continue
		}
		l := Link{Interface: ifc, Metric: -1}
		m4, m6 := -1, -1
		for _, r := range s.Routes {
			if r.Index != ifc.Index {
				continue
			}
			// A default route only counts when the interface has an
			// address of that family to send from.
			hasFamily := false
			for _, a := range ifc.globalAddrs() {
				if a.Is4() == r.Dst.Addr().Is4() {
					hasFamily = true
				}
			}
			if !hasFamily {
				continue
			}
			if r.Dst.Addr().Is4() {
				if m4 < 0 || r.Metric < m4 {
					m4, l.HasDefault4, l.Gateway4 = r.Metric, true, r.Gateway
				}
			} else if m6 < 0 || r.Metric < m6 {
				m6, l.HasDefault6, l.Gateway6 = r.Metric, true, r.Gateway
			}
			if l.Metric < 0 || r.Metric < l.Metric {
				l.Metric = r.Metric
			}
		}
		if !l.HasDefault4 && !l.HasDefault6 {
			continue
		}
		links = append(links, l)
	}
	slices.SortStableFunc(links, func(a, b Link) int {
		if ra, rb := pref.rank(a.Kind), pref.rank(b.Kind); ra != rb {
			return ra - rb
		}
		if a.Metric != b.Metric {
			return a.Metric - b.Metric
		}
		return a.Index - b.Index
	})
	return links
}
