package mobile

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/homeip/homeip/client"
)

func TestParseAddrs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{in: "", want: nil},
		{in: "198.51.100.7/24", want: []string{"198.51.100.7/24"}},
		{in: "198.51.100.7/24, 2001:db8::7/64", want: []string{"198.51.100.7/24", "2001:db8::7/64"}},
		{in: "100.64.1.10", want: []string{"100.64.1.10/32"}},
		{in: "2001:db8::1 198.51.100.7/25", want: []string{"2001:db8::1/128", "198.51.100.7/25"}},
		{in: "::ffff:198.51.100.7/120", want: []string{"198.51.100.7/32"}},
		{in: "fe80::1%wlan0/64", want: []string{"fe80::1/64"}},
		{in: "198.51.100.300/24", bad: true},
		{in: "wlan0", bad: true},
		{in: "198.51.100.7/33", bad: true},
	} {
		got, err := parseAddrs(tc.in)
		if tc.bad {
			if err == nil || ErrorCode(err) != CodeInvalid {
				t.Errorf("parseAddrs(%q) = %v, %v; want an invalid error", tc.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseAddrs(%q): %v", tc.in, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if !slices.Equal(s, tc.want) {
			t.Errorf("parseAddrs(%q) = %v, want %v", tc.in, s, tc.want)
		}
	}
}

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

// usableNames is the order in which the client node would use the links.
func usableNames(ns *networks) []string {
	var out []string
	for _, l := range ns.state().Usable(clientPreference) {
		out = append(out, l.Name)
	}
	return out
}

func TestNetworksState(t *testing.T) {
	ns := newNetworks()
	if st := ns.state(); len(st.Interfaces) != 0 || len(st.Routes) != 0 {
		t.Fatalf("empty networks give %+v", st)
	}
	ns.set(&network{name: "wlan0", kind: client.KindWiFi, addrs: pfx("198.51.100.10/25", "2001:db8:10::10/64", "fe80::1/64")})
	st := ns.state()
	if len(st.Interfaces) != 1 || st.Interfaces[0].Name != "wlan0" || !st.Interfaces[0].Up || st.Interfaces[0].Index != 1 {
		t.Fatalf("state %+v", st)
	}
	if len(st.Routes) != 2 || !st.Routes[0].Dst.Addr().Is4() || st.Routes[1].Dst.Addr().Is4() {
		t.Errorf("want an IPv4 and an IPv6 default route: %+v", st.Routes)
	}

	// A network with only a link-local address is not usable.
	ns.set(&network{name: "wwan0", kind: client.KindCellular, addrs: pfx("fe80::2/64")})
	if got := usableNames(ns); len(got) != 0 {
		t.Errorf("link-local only network usable: %v", got)
	}

	// Several networks: the preference decides, whatever the order of
	// announcement; SetPreferred changes it.
	ns.set(nil)
	ns.update(network{name: "wwan0", kind: client.KindCellular, addrs: pfx("100.64.1.10/24")})
	ns.update(network{name: "wlan0", kind: client.KindWiFi, addrs: pfx("198.51.100.10/25")})
	if got := usableNames(ns); !slices.Equal(got, []string{"wlan0", "wwan0"}) {
		t.Errorf("default preference: %v", got)
	}
	ns.prefer(client.KindCellular)
	if got := usableNames(ns); !slices.Equal(got, []string{"wwan0", "wlan0"}) {
		t.Errorf("cellular preferred: %v", got)
	}
	if ns.pref.String() != "cellular,wired,wifi" {
		t.Errorf("preference %s", ns.pref)
	}
	// Two networks of one kind: the first announced wins.
	ns.update(network{name: "wwan1", kind: client.KindCellular, addrs: pfx("100.64.9.10/24")})
	if got := usableNames(ns); !slices.Equal(got, []string{"wwan0", "wwan1", "wlan0"}) {
		t.Errorf("same kind: %v", got)
	}
	// Updating keeps the place; removing forgets; indexes stay.
	ns.update(network{name: "wwan0", kind: client.KindCellular, addrs: pfx("100.64.1.11/24")})
	if got := usableNames(ns); !slices.Equal(got, []string{"wwan0", "wwan1", "wlan0"}) {
		t.Errorf("after update: %v", got)
	}
	if !ns.remove("wwan0") || ns.remove("wwan0") {
		t.Error("remove reports wrongly")
	}
	if got := usableNames(ns); !slices.Equal(got, []string{"wwan1", "wlan0"}) {
		t.Errorf("after remove: %v", got)
	}
	ns.update(network{name: "wwan0", kind: client.KindCellular, addrs: pfx("100.64.1.11/24")})
	idx := map[string]int{}
	for _, i := range ns.state().Interfaces {
		idx[i.Name] = i.Index
	}
	if idx["wwan0"] != 2 || idx["wlan0"] != 1 || idx["wwan1"] != 3 {
		t.Errorf("interface indexes not stable: %v", idx)
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]client.Kind{"wifi": client.KindWiFi, "cellular": client.KindCellular, "wired": client.KindWired, "WIFI": client.KindWiFi} {
		if k, err := parseKind(in); err != nil || k != want {
			t.Errorf("parseKind(%q) = %v, %v", in, k, err)
		}
	}
	for _, bad := range []string{"", "bluetooth", "none"} {
		if _, err := parseKind(bad); ErrorCode(err) != CodeInvalid {
			t.Errorf("parseKind(%q): %v", bad, err)
		}
	}
}

func TestLookupAddrs(t *testing.T) {
	as, err := lookupAddrs("lo")
	if err != nil {
		t.Skipf("no loopback interface named lo: %v", err)
	}
	if !slices.Contains(as, netip.MustParsePrefix("127.0.0.1/8")) {
		t.Errorf("lo addresses %v", as)
	}
	if _, err := lookupAddrs("hipnosuchif0"); ErrorCode(err) != CodeInvalid {
		t.Errorf("missing interface: %v", err)
	}
}
