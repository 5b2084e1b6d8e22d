package mobile

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/homeip/homeip/client"
)

// KindNone is the kind NetworkChanged takes when the device has no
// network at all.
const KindNone = "none"

// network is one physical network the app told us about.
type network struct {
	name  string
	kind  client.Kind
	addrs []netip.Prefix
}

// networks is the set of networks the OS reports, and the order of
// preference between their kinds. It turns them into the client.State a
// client.PushWatcher publishes. Not safe for concurrent use (Node locks).
type networks struct {
	list  []network      // in the order the app announced them
	index map[string]int // interface name -> synthetic index, never reused
	pref  client.Preference
}

func newNetworks() *networks {
	return &networks{index: map[string]int{}, pref: client.DefaultPreference}
}

// parseKind parses the kinds the API takes.
func parseKind(s string) (client.Kind, error) {
	k, err := client.ParseKind(s)
	if err != nil {
		return 0, coded(CodeInvalid, fmt.Errorf("network kind %q: want wifi, cellular or wired", s))
	}
	return k, nil
}

// parseAddrs parses a comma- or space-separated list of addresses, with
// or without a prefix length (a bare address gets a host prefix).
func parseAddrs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		// A zone (fe80::1%wlan0/64) says nothing a care-of address needs.
		if i := strings.IndexByte(f, '%'); i >= 0 {
			rest := ""
			if j := strings.IndexByte(f[i:], '/'); j >= 0 {
				rest = f[i+j:]
			}
			f = f[:i] + rest
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, coded(CodeInvalid, fmt.Errorf("address %q: want an address or a prefix such as 198.51.100.7/24", f))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), p.Addr().Unmap().BitLen())))
	}
	return out, nil
}

// lookupAddrs asks the OS for the addresses of an interface. On Android
// 11 and later an app may not be allowed to (netlink is restricted); the
// app then passes the addresses itself (NetworkChangedAddrs,
// UpdateNetwork).
func lookupAddrs(ifName string) ([]netip.Prefix, error) {
	ifc, err := net.InterfaceByName(ifName)
	if err != nil {
		return nil, coded(CodeInvalid, fmt.Errorf("looking up interface %s (pass its addresses instead): %w", ifName, err))
	}
	as, err := ifc.Addrs()
	if err != nil {
		return nil, coded(CodeInvalid, fmt.Errorf("reading the addresses of %s (pass them instead): %w", ifName, err))
	}
	var out []netip.Prefix
	for _, a := range as {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		bits, _ := ipn.Mask.Size()
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, min(bits, ip.BitLen())))
	}
	return out, nil
}

// set replaces the list with one network (or none).
func (ns *networks) set(n *network) {
	ns.list = ns.list[:0]
	if n != nil {
		ns.update(*n)
	}
}

// update adds a network or replaces the one with the same name.
func (ns *networks) update(n network) {
	if _, ok := ns.index[n.name]; !ok {
		ns.index[n.name] = len(ns.index) + 1
	}
	if i := slices.IndexFunc(ns.list, func(x network) bool { return x.name == n.name }); i >= 0 {
		ns.list[i] = n
		return
	}
	ns.list = append(ns.list, n)
}

// remove forgets a network; it reports whether it was known.
func (ns *networks) remove(name string) bool {
	n := len(ns.list)
	ns.list = slices.DeleteFunc(ns.list, func(x network) bool { return x.name == name })
	return len(ns.list) != n
}

// prefer puts kind first in the order of preference, the others keeping
// their order.
func (ns *networks) prefer(k client.Kind) {
	p := client.Preference{k}
	for _, o := range ns.pref {
		if o != k {
			p = append(p, o)
		}
	}
	ns.pref = p
}

// rank is the position of k in the preference (smaller is better).
func (ns *networks) rank(k client.Kind) int {
	if i := slices.Index(ns.pref, k); i >= 0 {
		return i
	}
	return len(ns.pref)
}

// clientPreference is the Preference the node is created with: it lists
// none of the kinds an app can announce, so the node ranks every link
// equally by kind and then by route metric, and state() expresses this
// package's preference, which can change while the node runs, in the
// metrics.
var clientPreference = client.Preference{client.KindUnknown}

// state is the client.State of the networks: every network is an
// interface that is up, with a default route for each address family it
// has a global address of (the OS said it is usable), whose metric
// follows the preference of its kind, then the order of announcement.
func (ns *networks) state() client.State {
	var st client.State
	for i, n := range ns.list {
		idx := ns.index[n.name]
		st.Interfaces = append(st.Interfaces, client.Interface{
			Index: idx, Name: n.name, Kind: n.kind, Up: true, Addrs: slices.Clone(n.addrs),
		})
		metric := 100*(ns.rank(n.kind)+1) + i
		has4, has6 := false, false
		for _, p := range n.addrs {
			a := p.Addr()
			if !a.IsGlobalUnicast() || a.IsLinkLocalUnicast() {
				continue
			}
			if a.Is4() {
				has4 = true
			} else {
				has6 = true
			}
		}
		if has4 {
			st.Routes = append(st.Routes, client.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Index: idx, Metric: metric})
		}
		if has6 {
			st.Routes = append(st.Routes, client.Route{Dst: netip.MustParsePrefix("::/0"), Index: idx, Metric: metric})
		}
	}
	st.Normalize()
	return st
}
