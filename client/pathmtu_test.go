package client

import (
	"net/netip"
	"testing"
	"time"

	"github.com/homeip/homeip/tunnel"
)

func TestInterfaceBound(t *testing.T) {
	v4, v6 := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("2001:db8::1")
	for _, tc := range []struct {
		mtu  int
		ha   netip.Addr
		want int
	}{
		{1500, v4, 1500 - 20 - 8 - 32},
		{1500, v6, 1500 - 40 - 8 - 32},
		{1280, v4, 1220},
		{1280, v6, 1200},
		{1280, netip.MustParseAddr("::ffff:198.51.100.1"), 1220},
		{0, v4, 0},   // unknown
		{600, v6, 0}, // too small to say anything useful
		{-1, v4, 0},  // nonsense
		{9000, v4, 8940},
	} {
		if got := InterfaceBound(tc.mtu, tc.ha); got != tc.want {
			t.Errorf("InterfaceBound(%d, %v) = %d, want %d", tc.mtu, tc.ha, got, tc.want)
		}
	}
}

func TestPeerMTU(t *testing.T) {
	for _, tc := range []struct{ inner, ifMTU, want int }{
		{0, 1420, 0},
		{1420, 1420, 0},
		{1500, 1420, 0},
		{1220, 1420, 1220},
		{500, 1420, tunnel.MinPeerMTU},
		{-5, 1420, 0},
	} {
		if got := peerMTU(tc.inner, tc.ifMTU); got != tc.want {
			t.Errorf("peerMTU(%d, %d) = %d, want %d", tc.inner, tc.ifMTU, got, tc.want)
		}
	}
}

func TestNetworkKey(t *testing.T) {
	home := Link{Interface: Interface{Index: 3, Name: "wlan0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.1.20/24")}},
		Gateway4: netip.MustParseAddr("192.168.1.1")}
	cafe := home
	cafe.Addrs = []netip.Prefix{netip.MustParsePrefix("10.0.0.7/24")}
	cafe.Gateway4 = netip.MustParseAddr("10.0.0.1")
	again := home
	again.Index = 9 // the interface was re-created: still the same network
	if NetworkKey(home) == NetworkKey(cafe) {
		t.Errorf("home and café share a key %q", NetworkKey(home))
	}
	if NetworkKey(home) != NetworkKey(again) {
		t.Errorf("coming back home: %q != %q", NetworkKey(home), NetworkKey(again))
	}
}

// TestPathMTU walks the policy through a table of events on one
// PathMTU, checking the MTU in use and its source after each.
func TestPathMTU(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		at time.Duration
		// start: a new connection on key with interface bound; else an
		// observation of payload (done or not).
		start   bool
		key     string
		bound   int
		payload int
		done    bool

		want    int
		wantSrc string
		changed bool // for observations
	}
	steps := []struct {
		name string
		step
	}{
		{"first visit to Wi-Fi: the interface's bound", step{start: true, key: "wifi", bound: 1420, want: 1420, wantSrc: MTUFromInterface}},
		{"search under way, below the bound: no change", step{payload: 1300, want: 1420, wantSrc: MTUFromInterface}},
		{"search ends narrower than the interface", step{payload: 1392, done: true, want: 1360, wantSrc: MTUFromSearch, changed: true}},
		{"to cellular with an unknown interface MTU: no limit", step{at: time.Minute, start: true, key: "cell", want: 0, wantSrc: MTUFromInterface}},
		{"lower bounds never lower an unlimited path", step{at: time.Minute, payload: 1232, want: 0, wantSrc: MTUFromInterface}},
		{"cellular search ends at 1280", step{at: time.Minute, payload: 1280, done: true, want: 1248, wantSrc: MTUFromSearch, changed: true}},
		{"back to Wi-Fi: remembered", step{at: 10 * time.Minute, start: true, key: "wifi", bound: 1420, want: 1360, wantSrc: MTUFromMemory}},
		{"Wi-Fi widened: a confirmed size above the remembered one raises it", step{at: 10 * time.Minute, payload: 1412, want: 1380, wantSrc: MTUFromSearch, changed: true}},
		{"and the search ends at quic-go's ceiling: the interface's bound", step{at: 10 * time.Minute, payload: quicMaxPayload, done: true, want: 1420, wantSrc: MTUFromSearch, changed: true}},
		{"back to cellular: remembered 1248", step{at: 20 * time.Minute, start: true, key: "cell", want: 1248, wantSrc: MTUFromMemory}},
		{"a remembered value above a shrunken interface bound yields", step{at: 21 * time.Minute, start: true, key: "cell", bound: 1200, want: 1200, wantSrc: MTUFromInterface}},
		{"after Remember the network is forgotten", step{at: 2 * time.Hour, start: true, key: "cell", want: 0, wantSrc: MTUFromInterface}},
		{"a search near quic-go's ceiling counts as the ceiling", step{at: 2 * time.Hour, start: true, key: "lo", bound: 1220, want: 1220, wantSrc: MTUFromInterface}},
		{"ended 14 bytes below it", step{at: 2 * time.Hour, payload: quicMaxPayload - 14, done: true, want: 1220, wantSrc: MTUFromSearch}},
		{"a search result above the interface's bound is capped", step{at: 2 * time.Hour, start: true, key: "narrow", bound: 1200, want: 1200, wantSrc: MTUFromInterface}},
		{"capped at the bound", step{at: 2 * time.Hour, payload: 1300, done: true, want: 1200, wantSrc: MTUFromSearch}},
		{"forgotten cellular again", step{at: 2 * time.Hour, start: true, key: "cell", want: 0, wantSrc: MTUFromInterface}},
		{"nonsense sizes are ignored", step{at: 2 * time.Hour, payload: 100, done: true, want: 0, wantSrc: MTUFromInterface}},
	}
	p := NewPathMTU(PathMTUConfig{Remember: time.Hour})
	for _, s := range steps {
		now := t0.Add(s.at)
		if s.start {
			got, src := p.Start(s.key, s.bound, now)
			if got != s.want || src != s.wantSrc {
				t.Fatalf("%s: Start = %d %s, want %d %s", s.name, got, src, s.want, s.wantSrc)
			}
			continue
		}
		got, changed := p.Observe(s.payload, s.done, now)
		_, src := p.Current()
		if got != s.want || src != s.wantSrc || changed != s.changed {
			t.Fatalf("%s: Observe = %d (%s) changed %v, want %d (%s) changed %v", s.name, got, src, changed, s.want, s.wantSrc, s.changed)
		}
	}
}

func TestPathMTUForgetsOldestNetwork(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := NewPathMTU(PathMTUConfig{MaxNetworks: 2})
	for i, key := range []string{"a", "b", "c"} {
		now := t0.Add(time.Duration(i) * time.Minute)
		p.Start(key, 1420, now)
		p.Observe(1300, true, now)
	}
	if got, src := p.Start("a", 1420, t0.Add(5*time.Minute)); got != 1420 || src != MTUFromInterface {
		t.Errorf("network a after two newer ones: %d %s, want it forgotten (1420 interface)", got, src)
	}
	for _, key := range []string{"b", "c"} {
		if got, src := p.Start(key, 1420, t0.Add(5*time.Minute)); got != 1268 || src != MTUFromMemory {
			t.Errorf("network %s: %d %s, want 1268 remembered", key, got, src)
		}
	}
}
