package homeagent

import (
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/tunnel"
)

func TestDownlinkMTU(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload int
		done    bool
		ifMTU   int
		want    pathMTU
	}{
		{"no result yet", 0, false, 1420, pathMTU{State: mtuInterface}},
		{"nonsense", 100, true, 1420, pathMTU{State: mtuInterface}},
		{"lower bound while searching: shown, not applied", 1300, false, 1420, pathMTU{Confirmed: 1268, State: mtuSearching}},
		{"concluded on a 1280-byte IPv6 link", 1232, true, 1420, pathMTU{Limit: 1200, Confirmed: 1200, State: mtuDiscovered}},
		{"concluded narrower than the interface", 1400, true, 1420, pathMTU{Limit: 1368, Confirmed: 1368, State: mtuDiscovered}},
		{"at quic-go's ceiling: no limit of its own", quicMaxPayload, true, 1420, pathMTU{Confirmed: 1420, State: mtuDiscovered}},
		{"within the search's resolution of the ceiling", quicMaxPayload - 14, true, 1420, pathMTU{Confirmed: 1406, State: mtuDiscovered}},
		{"at least the interface MTU: no limit", 1440, true, 1400, pathMTU{Confirmed: 1400, State: mtuDiscovered}},
	} {
		if got := downlinkMTU(tc.payload, tc.done, tc.ifMTU); got != tc.want {
			t.Errorf("%s: downlinkMTU(%d, %v, %d) = %+v, want %+v", tc.name, tc.payload, tc.done, tc.ifMTU, got, tc.want)
		}
	}
}

func TestNextDownlinkMTU(t *testing.T) {
	found := pathMTU{Limit: 1268, Confirmed: 1268, State: mtuDiscovered}
	for _, tc := range []struct {
		name    string
		prev    pathMTU
		payload int
		done    bool
		newPath bool
		want    pathMTU
	}{
		{"new path: the previous limit goes", found, 0, false, true, pathMTU{State: mtuInterface}},
		{"new path, searching: no limit yet", found, 1250, false, true, pathMTU{Confirmed: 1218, State: mtuSearching}},
		{"new path, concluded", pathMTU{State: mtuInterface}, 1232, true, true, pathMTU{Limit: 1200, Confirmed: 1200, State: mtuDiscovered}},
		{"same path searching again (NAT rebinding) below the result: kept", found, 1250, false, false, found},
		{"same path searching above the result: raised", found, 1350, false, false, pathMTU{Limit: 1318, Confirmed: 1318, State: mtuSearching}},
		{"raised to the interface MTU: no limit", found, 1452, false, false, pathMTU{Limit: 0, Confirmed: 1420, State: mtuSearching}},
		{"first search still running: no limit", pathMTU{State: mtuInterface}, 1300, false, false, pathMTU{Confirmed: 1268, State: mtuSearching}},
		{"concluded again lower: lowered", found, 1232, true, false, pathMTU{Limit: 1200, Confirmed: 1200, State: mtuDiscovered}},
	} {
		if got := nextDownlinkMTU(tc.prev, tc.payload, tc.done, tc.newPath, 1420); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestDownlinkPathMTUDiscovered: a device's control connection crosses a
// link that carries UDP payloads of at most 1300 bytes. QUIC's path MTU
// discovery from the home agent (on loopback, where the socket sets DF)
// finds that, and the home agent limits the device's peer to the inner
// packet it carries and shows it in the binding listing.
func TestDownlinkPathMTUDiscovered(t *testing.T) {
	const link = 1300
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	dev := newDevice(t)
	c0, _ := h.enrol("phone", dev)
	c0.close()
	nat := newFakeNAT(t, h.addr, link)
	c := h.dialViaConfig(dev, nat, &quic.Config{MaxIdleTimeout: 30 * time.Second, InitialPacketSize: binding.InitialPacketSize})
	if ra := c.register(dev); !ra.Status.OK() {
		t.Fatalf("register: %+v", ra)
	}
	if ba := c.bind(1); !ba.Status.OK() {
		t.Fatalf("bind: %+v", ba)
	}
	lo, hi := tunnel.InnerMTU(link-quicSearchResolution), tunnel.InnerMTU(link)
	deadline := time.Now().Add(10 * time.Second)
	for nonce := uint64(1); ; nonce++ {
		bs, err := h.admin.Bindings()
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) == 1 && bs[0].PathMTUState == mtuDiscovered {
			b := bs[0]
			if b.PathMTU < lo || b.PathMTU > hi {
				t.Fatalf("binding path MTU %d, want %d..%d for a %d-byte link", b.PathMTU, lo, hi, link)
			}
			if p := mustPeer(t, h.dp, dev); p.MTU != b.PathMTU {
				t.Fatalf("peer MTU %d, listed %d", p.MTU, b.PathMTU)
			}
			t.Logf("discovered: peer limited to %d-byte inner packets (%+v)", b.PathMTU, b)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no concluded path MTU search after 10 s: bindings %+v", bs)
		}
		// Keep the connection busy while quic-go probes; the fake clock
		// moves on so that the device's message budget refills.
		h.clock.Advance(200 * time.Millisecond)
		c.heartbeat(nonce)
		time.Sleep(20 * time.Millisecond)
	}
}
