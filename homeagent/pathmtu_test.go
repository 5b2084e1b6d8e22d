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
	announced := pathMTU{Limit: 1220, State: mtuDevice}
	for _, tc := range []struct {
		name    string
		prev    pathMTU
		payload int
		done    bool
		newPath bool
		hint    int
		want    pathMTU
	}{
		{"new path: the previous limit goes", found, 0, false, true, 0, pathMTU{State: mtuInterface}},
		{"new path the device announced 1220 for", found, 0, false, true, 1220, announced},
		{"an announcement of the interface MTU or more is no limit", found, 0, false, true, 1420, pathMTU{State: mtuInterface}},
		{"an announcement below the minimum is ignored", found, 0, false, true, 300, pathMTU{State: mtuInterface}},
		{"new path, searching: no limit yet", found, 1250, false, true, 0, pathMTU{Confirmed: 1218, State: mtuSearching}},
		{"new path, searching, announced: the announcement", found, 1240, false, true, 1220, pathMTU{Limit: 1220, Confirmed: 1208, State: mtuDevice}},
		{"new path, concluded", pathMTU{State: mtuInterface}, 1232, true, true, 0, pathMTU{Limit: 1200, Confirmed: 1200, State: mtuDiscovered}},
		{"same path: nothing new keeps what holds", announced, 0, false, false, 0, announced},
		{"same path searching below the announcement: kept", announced, 1240, false, false, 0, pathMTU{Limit: 1220, Confirmed: 1208, State: mtuDevice}},
		{"a search concluding above the announcement is capped", announced, 1300, true, false, 0, pathMTU{Limit: 1220, Confirmed: 1268, State: mtuDiscovered}},
		{"a search concluding below the announcement lowers it", announced, 1232, true, false, 0, pathMTU{Limit: 1200, Confirmed: 1200, State: mtuDiscovered}},
		{"same path searching again (NAT rebinding) below the result: kept", found, 1250, false, false, 0, found},
		{"same path searching above the result: raised", found, 1350, false, false, 0, pathMTU{Limit: 1318, Confirmed: 1318, State: mtuSearching}},
		{"raised to the interface MTU: no limit", found, 1452, false, false, 0, pathMTU{Limit: 0, Confirmed: 1420, State: mtuSearching}},
		{"first search still running: no limit", pathMTU{State: mtuInterface}, 1300, false, false, 0, pathMTU{Confirmed: 1268, State: mtuSearching}},
		{"concluded again lower: lowered", found, 1232, true, false, 0, pathMTU{Limit: 1200, Confirmed: 1200, State: mtuDiscovered}},
	} {
		if got := nextDownlinkMTU(tc.prev, tc.payload, tc.done, tc.newPath, tc.hint, 1420); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestDownlinkStartsAtAnnouncedMTU: a device that announces the path MTU
// of its access link in its binding update (a 1280-byte link: 1220 for an
// IPv4 tunnel) has its peer limited to it at once, before any search, so
// the first large packet toward it is not lost on that link.
func TestDownlinkStartsAtAnnouncedMTU(t *testing.T) {
	h := startHA(t, t.TempDir(), labConfig(""), nil)
	dev := newDevice(t)
	c, _ := h.enrol("phone", dev)
	c.register(dev)
	c.send(&binding.BindingUpdate{Sequence: 1, Flags: binding.FlagAck | binding.FlagHome, Lifetime: 30 * time.Second, Via: 1,
		Entries: []binding.CareOf{{BID: 1, Kind: binding.KindCellular, Priority: 10}}, PathMTU: 1220})
	if ba := recvAs[*binding.BindingAck](c); !ba.Status.OK() {
		t.Fatalf("bind: %+v", ba)
	}
	if p := mustPeer(t, h.dp, dev); p.MTU != 1220 {
		t.Fatalf("peer MTU %d right after the update, want the announced 1220", p.MTU)
	}
	bs, err := h.admin.Bindings()
	// On loopback quic-go's own search may already have concluded (at its
	// ceiling); it never lifts the limit above the announcement.
	if err != nil || len(bs) != 1 || bs[0].PathMTU != 1220 || (bs[0].PathMTUState != mtuDevice && bs[0].PathMTUState != mtuDiscovered) {
		t.Fatalf("bindings %+v (%v), want path MTU 1220 announced by the device", bs, err)
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
