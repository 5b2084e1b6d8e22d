package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/homeip/homeip/homeagent/adminapi"
)

func TestPrintBindingsPathMTU(t *testing.T) {
	b := adminapi.Binding{Device: "phone", VIP4: netip.MustParseAddr("10.64.0.2"), Primary: netip.MustParseAddrPort("198.51.100.7:4500"),
		Sequence: 3, Expires: time.Now().Add(time.Minute)}
	for _, tc := range []struct {
		mtu       int
		state     string
		confirmed int
		want      string
	}{
		{1420, "interface", 0, "1420 (interface)"},
		{1420, "searching", 1268, "1420 (searching, ≥1268)"},
		{1200, "discovered", 1200, "1200 (discovered)"},
		{0, "", 0, "-"},
	} {
		b.PathMTU, b.PathMTUState, b.PathMTUConfirmed = tc.mtu, tc.state, tc.confirmed
		var out strings.Builder
		printBindings(&out, []adminapi.Binding{b})
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], "PATH MTU") || !strings.Contains(lines[1], tc.want) {
			t.Errorf("path MTU %d %s: got\n%s\nwant a PATH MTU column with %q", tc.mtu, tc.state, out.String(), tc.want)
		}
	}
}
