package client

import (
	"net/netip"
	"testing"
)

func TestAnnounceOnMove(t *testing.T) {
	wifi := Link{Interface: Interface{Index: 3, Name: "wlan0", Kind: KindWiFi, Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("198.51.100.10/25")}}, HasDefault4: true, Gateway4: netip.MustParseAddr("198.51.100.1")}
	cell := Link{Interface: Interface{Index: 4, Name: "wwan0", Kind: KindCellular, Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("100.64.1.10/24")}}, HasDefault4: true, Gateway4: netip.MustParseAddr("100.64.1.1")}
	renumbered := wifi
	renumbered.Addrs = []netip.Prefix{netip.MustParsePrefix("198.51.100.77/25")}
	regateway := wifi
	regateway.Gateway4 = netip.MustParseAddr("198.51.100.2")

	for _, tc := range []struct {
		name    string
		prev    Link
		hadPrev bool
		usable  []Link
		want    bool
	}{
		{"first link after none", Link{}, false, []Link{cell}, true},
		{"failover from a dead path, its link still up", wifi, false, []Link{cell, wifi}, true},
		{"old link gone (wifi to cellular)", wifi, true, []Link{cell}, true},
		{"old link gone (cellular to wifi)", cell, true, []Link{wifi}, true},
		{"old link still usable (preferred link came up)", cell, true, []Link{wifi, cell}, false},
		{"old link still usable, now the standby", wifi, true, []Link{cell, wifi}, false},
		{"same link renumbered", wifi, true, []Link{renumbered}, true},
		{"same link, new gateway", wifi, true, []Link{regateway, cell}, true},
		{"no usable link at all", wifi, true, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := announceOnMove(tc.prev, tc.hadPrev, tc.usable); got != tc.want {
				t.Errorf("announceOnMove = %v, want %v", got, tc.want)
			}
		})
	}
}
