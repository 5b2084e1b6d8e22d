package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/handoverbench"
	"github.com/homeip/homeip/internal/netlab"
)

// cellMTU is the link MTU of the cellular radio in TestCellularMTU1280:
// the IPv6 minimum, common on cellular links.
const cellMTU = 1280

// TestCellularMTU1280 gives the cellular link (the node's wwan0 and the
// cell router's side of it) an MTU of 1280 and moves the node onto it,
// both from Wi-Fi and with cellular already up as the standby, with an
// IPv4 and an IPv6 stream the node only receives: the control
// connection's handshake must fit the link (it used to lose its first
// packets there and wait for QUIC's probe timeout), the node must
// register on wwan0, and both streams must come through intact.
func TestCellularMTU1280(t *testing.T) {
	t.Parallel()
	h := deployIn(t, netlab.Network{Cell: netlab.LinkConfig{MTU: cellMTU}})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, mv := range []move{
		{name: "wifi-to-cellular", prepare: (*netlab.Lab).MoveToWifi, from: netlab.WifiIface, do: (*netlab.Lab).MoveToCell},
		{name: "wifi-to-standby-cellular", prepare: (*netlab.Lab).BothLinks, from: netlab.WifiIface, standby: netlab.CellIface, do: (*netlab.Lab).MoveToCell},
	} {
		t.Run(mv.name, func(t *testing.T) {
			runMove(t, h, mv, false)
			st, err := h.WaitStatus(ctx, 20*time.Second, "registered on wwan0", func(s handoverbench.NodeStatus) bool {
				return s.State == "registered" && s.Interface == netlab.CellIface
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("node on the 1280-byte cellular link: handover took %.1f ms", st.LastHandoverMs)
		})
	}
}
