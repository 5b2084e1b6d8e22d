package client

import (
	"net/netip"
	"testing"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

func def4(index int, gw string, metric int) Route {
	return Route{Dst: pfx("0.0.0.0/0"), Gateway: ip(gw), Index: index, Metric: metric}
}

func def6(index int, gw string, metric int) Route {
	return Route{Dst: pfx("::/0"), Gateway: ip(gw), Index: index, Metric: metric}
}

var (
	lo    = Interface{Index: 1, Name: "lo", Up: true, Addrs: []netip.Prefix{pfx("127.0.0.1/8"), pfx("::1/128")}}
	eth   = Interface{Index: 2, Name: "eth0", Kind: KindWired, Up: true, Addrs: []netip.Prefix{pfx("192.0.2.20/24")}}
	wlan  = Interface{Index: 3, Name: "wlan0", Kind: KindWiFi, Up: true, Addrs: []netip.Prefix{pfx("198.51.100.10/25"), pfx("fe80::1/64")}}
	wwan  = Interface{Index: 4, Name: "wwan0", Kind: KindCellular, Up: true, Addrs: []netip.Prefix{pfx("100.64.1.10/24")}}
	wlan2 = Interface{Index: 3, Name: "wlan0", Kind: KindWiFi, Up: true, Addrs: []netip.Prefix{pfx("198.51.100.130/25"), pfx("fe80::1/64")}}
)

func down(i Interface) Interface { i.Up = false; return i }

func withAddrs(i Interface, addrs ...string) Interface {
	i.Addrs = nil
	for _, a := range addrs {
		i.Addrs = append(i.Addrs, pfx(a))
	}
	return i
}

func TestDiff(t *testing.T) {
	wifiOnly := State{Interfaces: []Interface{lo, wlan}, Routes: []Route{def4(3, "198.51.100.1", 600)}}
	cellOnly := State{Interfaces: []Interface{lo, down(wlan), wwan}, Routes: []Route{def4(4, "100.64.1.1", 700)}}
	both := State{Interfaces: []Interface{lo, wlan, wwan}, Routes: []Route{def4(3, "198.51.100.1", 600), def4(4, "100.64.1.1", 700)}}
	renumbered := State{Interfaces: []Interface{lo, wlan2}, Routes: []Route{def4(3, "198.51.100.129", 600)}}
	newGW := State{Interfaces: []Interface{lo, wlan}, Routes: []Route{def4(3, "198.51.100.2", 600)}}
	metricOnly := State{Interfaces: []Interface{lo, wlan}, Routes: []Route{def4(3, "198.51.100.1", 50)}}
	wired := State{Interfaces: []Interface{lo, eth, wlan}, Routes: []Route{def4(2, "192.0.2.1", 100), def4(3, "198.51.100.1", 600)}}
	noRoute := State{Interfaces: []Interface{lo, wlan}}
	v6only := State{Interfaces: []Interface{lo, withAddrs(wlan, "2001:db8:10::10/64")}, Routes: []Route{def6(3, "fe80::1", 1024)}}
	v6wrongFamily := State{Interfaces: []Interface{lo, wlan}, Routes: []Route{def6(3, "fe80::1", 1024)}}
	extraDocker := State{Interfaces: []Interface{lo, wlan, {Index: 9, Name: "docker0", Up: true, Addrs: []netip.Prefix{pfx("172.17.0.1/16")}}}, Routes: []Route{def4(3, "198.51.100.1", 600)}}
	wifiPlusLinkLocal := State{Interfaces: []Interface{lo, withAddrs(wlan, "198.51.100.10/25", "fe80::1/64", "fe80::2/64")}, Routes: []Route{def4(3, "198.51.100.1", 600)}}

	cases := []struct {
		name           string
		old, new       State
		pref           Preference
		changed        bool
		primary        string // "" = none
		standby        string // "" = none
		standbyChanged bool
	}{
		{name: "nothing to nothing", old: State{}, new: State{Interfaces: []Interface{lo}}},
		{name: "first link", old: State{}, new: wifiOnly, changed: true, primary: "wlan0"},
		{name: "same", old: wifiOnly, new: wifiOnly, primary: "wlan0"},
		{name: "wifi to cellular", old: wifiOnly, new: cellOnly, changed: true, primary: "wwan0"},
		{name: "cellular to wifi", old: cellOnly, new: wifiOnly, changed: true, primary: "wlan0"},
		{name: "cellular joins as standby", old: wifiOnly, new: both, primary: "wlan0", standby: "wwan0", standbyChanged: true},
		{name: "wifi lost with both up", old: both, new: cellOnly, changed: true, primary: "wwan0"},
		{name: "wifi returns, preferred over cellular", old: cellOnly, new: both, changed: true, primary: "wlan0", standby: "wwan0"},
		{name: "cellular preferred by configuration", old: cellOnly, new: both, pref: Preference{KindCellular, KindWiFi}, primary: "wwan0", standby: "wlan0", standbyChanged: true},
		{name: "renumbered into another subnet", old: wifiOnly, new: renumbered, changed: true, primary: "wlan0"},
		{name: "gateway changed", old: wifiOnly, new: newGW, changed: true, primary: "wlan0"},
		{name: "metric change alone", old: wifiOnly, new: metricOnly, primary: "wlan0"},
		{name: "wired beats wifi", old: wifiOnly, new: wired, changed: true, primary: "eth0", standby: "wlan0"},
		{name: "all gone", old: wifiOnly, new: State{Interfaces: []Interface{lo, down(wlan)}}, changed: true},
		{name: "address without default route is unusable", old: wifiOnly, new: noRoute, changed: true},
		{name: "ipv6-only link", old: State{}, new: v6only, changed: true, primary: "wlan0"},
		{name: "v6 default without v6 address", old: State{}, new: v6wrongFamily},
		{name: "unrelated interface appears", old: wifiOnly, new: extraDocker, primary: "wlan0"},
		{name: "link-local address added", old: wifiOnly, new: wifiPlusLinkLocal, primary: "wlan0"},
		{name: "standby goes away", old: both, new: wifiOnly, primary: "wlan0", standbyChanged: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.old.Normalize()
			tc.new.Normalize()
			d := Diff(tc.old, tc.new, tc.pref)
			if d.PathChanged != tc.changed {
				t.Errorf("PathChanged = %v, want %v (reason %q)", d.PathChanged, tc.changed, d.Reason)
			}
			if d.PathChanged && d.Reason == "" {
				t.Error("path changed without a reason")
			}
			got := ""
			if d.HasPrimary {
				got = d.Primary.Name
			}
			if got != tc.primary {
				t.Errorf("primary = %q, want %q", got, tc.primary)
			}
			got = ""
			if d.HasStandby {
				got = d.Standby.Name
			}
			if got != tc.standby {
				t.Errorf("standby = %q, want %q", got, tc.standby)
			}
			if d.StandbyChanged != tc.standbyChanged {
				t.Errorf("StandbyChanged = %v, want %v", d.StandbyChanged, tc.standbyChanged)
			}
		})
	}
}

func TestUsableGateway(t *testing.T) {
	s := State{Interfaces: []Interface{withAddrs(wlan, "198.51.100.10/25", "2001:db8:10::10/64")},
		Routes: []Route{def4(3, "198.51.100.1", 600), def4(3, "198.51.100.2", 100), def6(3, "fe80::1", 1024)}}
	s.Normalize()
	links := s.Usable(nil)
	if len(links) != 1 {
		t.Fatalf("got %d links, want 1", len(links))
	}
	l := links[0]
	if l.Gateway4 != ip("198.51.100.2") || l.Gateway6 != ip("fe80::1") || l.Metric != 100 || !l.HasDefault4 || !l.HasDefault6 {
		t.Errorf("link = %+v", l)
	}
}

func TestParsePreference(t *testing.T) {
	p, err := ParsePreference("wifi, wired,cellular")
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != "wifi,wired,cellular" {
		t.Errorf("got %s", p)
	}
	for _, bad := range []string{"", "wifi,wifi", "wifi,bluetooth", ","} {
		if _, err := ParsePreference(bad); err == nil {
			t.Errorf("ParsePreference(%q) accepted", bad)
		}
	}
}

func TestKindFromName(t *testing.T) {
	for name, want := range map[string]Kind{"wlan0": KindWiFi, "wlp3s0": KindWiFi, "wwan0": KindCellular, "rmnet_data0": KindCellular, "eth0": KindWired, "enp0s31f6": KindWired, "veth1": KindUnknown, "homeip0": KindUnknown} {
		if got := KindFromName(name); got != want {
			t.Errorf("KindFromName(%q) = %s, want %s", name, got, want)
		}
	}
}
