//go:build !android

package netmon

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
)

// testNS creates a network namespace with a unique hip prefix, removed
// when the test ends, and returns a handle bound to it.
func testNS(t *testing.T) (*netlink.Handle, netns.NsHandle) {
	t.Helper()
	labtest.Require(t)
	prefix := netlab.NewPrefix()
	release, err := netlab.RegisterOwner(prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // runs last, after the namespace is gone
	name := prefix + "-nm"
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return h, ns
}

// addLink creates a veth pair name/name+"p" in the namespace, up, with
// addr and a default route via gw at metric.
func addLink(t *testing.T, h *netlink.Handle, name, addr, gw string, metric int) netlink.Link {
	t.Helper()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}); err != nil {
		t.Fatalf("adding %s: %v", name, err)
	}
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := h.LinkByName(name + "p")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []netlink.Link{l, peer} {
		if err := h.LinkSetUp(x); err != nil {
			t.Fatal(err)
		}
	}
	setAddr(t, h, l, addr, gw, metric)
	return l
}

func setAddr(t *testing.T, h *netlink.Handle, l netlink.Link, addr, gw string, metric int) {
	t.Helper()
	p := netip.MustParsePrefix(addr)
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
		t.Fatalf("adding %s: %v", addr, err)
	}
	g := netip.MustParseAddr(gw)
	if err := h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.IP(g.AsSlice()), Priority: metric}); err != nil {
		t.Fatalf("default route via %s: %v", gw, err)
	}
}

// waitState waits for change signals until cond holds for the state.
func waitState(t *testing.T, w *Watcher, what string, cond func(client.State) bool) client.State {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		st, err := w.State()
		if err != nil {
			t.Fatal(err)
		}
		if cond(st) {
			return st
		}
		select {
		case <-w.Changed():
		case <-deadline:
			t.Fatalf("timed out waiting for %s; state %+v", what, st)
		}
	}
}

func primaryIs(name string) func(client.State) bool {
	return func(s client.State) bool {
		u := s.Usable(nil)
		return len(u) > 0 && u[0].Name == name
	}
}

func TestWatcherInNamespace(t *testing.T) {
	h, ns := testNS(t)
	w, err := New(Config{Handle: h, Namespace: &ns})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
		if err := w.Close(); err != nil {
			t.Error("second Close:", err)
		}
	}()
	st0, err := w.State()
	if err != nil {
		t.Fatal(err)
	}
	if len(st0.Usable(nil)) != 0 {
		t.Fatalf("fresh namespace has usable links: %+v", st0)
	}

	addLink(t, h, "wlan0", "198.51.100.10/25", "198.51.100.1", 600)
	st1 := waitState(t, w, "wlan0 usable", primaryIs("wlan0"))
	d := client.Diff(st0, st1, nil)
	if !d.PathChanged || d.Primary.Kind != client.KindWiFi || d.Primary.Gateway4 != netip.MustParseAddr("198.51.100.1") {
		t.Errorf("wlan0 up: %+v", d)
	}

	addLink(t, h, "wwan0", "100.64.1.10/24", "100.64.1.1", 700)
	st2 := waitState(t, w, "wwan0 standby", func(s client.State) bool { return len(s.Usable(nil)) == 2 })
	d = client.Diff(st1, st2, nil)
	if d.PathChanged || !d.StandbyChanged || d.Standby.Name != "wwan0" || d.Standby.Kind != client.KindCellular {
		t.Errorf("wwan0 up: %+v", d)
	}

	wlan, err := h.LinkByName("wlan0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkDel(wlan); err != nil {
		t.Fatal(err)
	}
	st3 := waitState(t, w, "wlan0 gone", primaryIs("wwan0"))
	d = client.Diff(st2, st3, nil)
	if !d.PathChanged || d.Primary.Name != "wwan0" || d.HasStandby {
		t.Errorf("wlan0 removed: %+v", d)
	}

	// Renumbering: the address moves to another subnet.
	wwan, err := h.LinkByName("wwan0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrDel(wwan, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("100.64.1.10/24"))}); err != nil {
		t.Fatal(err)
	}
	setAddr(t, h, wwan, "100.64.2.10/24", "100.64.2.1", 700)
	st4 := waitState(t, w, "renumbered", func(s client.State) bool {
		u := s.Usable(nil)
		return len(u) == 1 && u[0].Gateway4 == netip.MustParseAddr("100.64.2.1")
	})
	if d := client.Diff(st3, st4, nil); !d.PathChanged {
		t.Errorf("renumbering not a path change: %+v", d)
	}

	// Carrier loss (peer down) makes the link unusable.
	peer, err := h.LinkByName("wwan0p")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetDown(peer); err != nil {
		t.Fatal(err)
	}
	st5 := waitState(t, w, "carrier lost", func(s client.State) bool { return len(s.Usable(nil)) == 0 })
	if d := client.Diff(st4, st5, nil); !d.PathChanged || d.HasPrimary {
		t.Errorf("carrier loss: %+v", d)
	}

	// The excluded tunnel interface never shows up.
	w2, err := New(Config{Handle: h, Namespace: &ns, Exclude: []string{"wwan0"}, Kinds: map[string]client.Kind{"wwan0p": client.KindWired}})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	st, err := w2.State()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range st.Interfaces {
		if i.Name == "wwan0" {
			t.Error("excluded interface listed")
		}
		if i.Name == "wwan0p" && i.Kind != client.KindWired {
			t.Errorf("kind override ignored: %v", i.Kind)
		}
	}
}

func TestHostInNamespace(t *testing.T) {
	h, _ := testNS(t)
	wwan := addLink(t, h, "wwan0", "100.64.1.10/24", "100.64.1.1", 700)
	// A veth stands in for the TUN (dummy interfaces need a module that
	// may be missing).
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "homeip0"}, PeerName: "homeip0p"}); err != nil {
		t.Fatal(err)
	}
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	host, err := NewHost(HostConfig{Handle: h, Interface: "homeip0", WriteResolvConf: true, ResolvConf: resolv})
	if err != nil {
		t.Fatal(err)
	}
	tc := client.TunnelConfig{
		Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.130/32"), netip.MustParsePrefix("2001:db8:100::2/128")},
		Routes:    []netip.Prefix{netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("0.0.0.0/1")},
		DNS:       []netip.Addr{netip.MustParseAddr("192.0.2.129")}, SearchDomain: "home.test", MTU: 1400,
	}
	if err := host.ConfigureTunnel(tc); err != nil {
		t.Fatal(err)
	}
	tun, err := h.LinkByName("homeip0")
	if err != nil {
		t.Fatal(err)
	}
	if tun.Attrs().MTU != 1400 {
		t.Errorf("MTU %d", tun.Attrs().MTU)
	}
	addrs, err := h.AddrList(tun, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, a := range addrs {
		p, _ := prefixOf(a.IPNet)
		for _, want := range tc.Addresses {
			if p == want {
				found++
			}
		}
	}
	if found != 2 {
		t.Errorf("addresses on homeip0: %v", addrs)
	}
	routeVia := func(dst string) *netlink.Route {
		rs, err := h.RouteGet(net.IP(netip.MustParseAddr(dst).AsSlice()))
		if err != nil || len(rs) == 0 {
			t.Fatalf("route to %s: %v", dst, err)
		}
		return &rs[0]
	}
	if r := routeVia("192.0.2.10"); r.LinkIndex != tun.Attrs().Index {
		t.Errorf("home LAN not routed into the tunnel: %+v", r)
	}
	if r := routeVia("2001:db8:1::10"); r.LinkIndex != tun.Attrs().Index {
		t.Errorf("home LAN v6 not routed into the tunnel: %+v", r)
	}
	// Full tunnel: 0.0.0.0/1 goes into the tunnel, but the home agent is
	// pinned outside it through the physical link.
	if r := routeVia("1.2.3.4"); r.LinkIndex != tun.Attrs().Index {
		t.Errorf("0.0.0.0/1 not in the tunnel: %+v", r)
	}
	link := client.Link{Interface: client.Interface{Index: wwan.Attrs().Index, Name: "wwan0"}, Gateway4: netip.MustParseAddr("100.64.1.1"), HasDefault4: true}
	if err := host.RouteHomeAgent([]netip.Addr{netip.MustParseAddr("100.1.2.3"), netip.MustParseAddr("2001:db8:ffff::1")}, link); err != nil {
		t.Fatal(err)
	}
	if r := routeVia("100.1.2.3"); r.LinkIndex != wwan.Attrs().Index || !r.Gw.Equal(net.ParseIP("100.64.1.1")) {
		t.Errorf("home agent not pinned through wwan0: %+v", r)
	}
	b, _ := os.ReadFile(resolv)
	if string(b) == "nameserver 192.0.2.53\n" || !strings.Contains(string(b), "nameserver 192.0.2.129") || !strings.Contains(string(b), "search home.test") {
		t.Errorf("resolv.conf:\n%s", b)
	}
	// Reconfiguring drops what is no longer wanted.
	tc.Routes = tc.Routes[:2]
	if err := host.ConfigureTunnel(tc); err != nil {
		t.Fatal(err)
	}
	if r := routeVia("1.2.3.4"); r.LinkIndex == tun.Attrs().Index {
		t.Error("stale 0.0.0.0/1 route left in the tunnel")
	}
	if err := host.Close(); err != nil {
		t.Fatal(err)
	}
	if err := host.Close(); err != nil {
		t.Error("second Close:", err)
	}
	rs, _ := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Protocol: RouteProtocol}, netlink.RT_FILTER_PROTOCOL)
	if len(rs) != 0 {
		t.Errorf("routes left after Close: %v", rs)
	}
	if addrs, _ := h.AddrList(tun, netlink.FAMILY_V4); len(addrs) != 0 {
		t.Errorf("addresses left after Close: %v", addrs)
	}
	if b, _ := os.ReadFile(resolv); string(b) != "nameserver 192.0.2.53\n" {
		t.Errorf("resolv.conf not restored:\n%s", b)
	}
}
