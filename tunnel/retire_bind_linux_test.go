//go:build linux && !android

package tunnel

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/device"
)

// TestBindHoldsRetiredEndpoints checks the receive path on loopback: a
// WireGuard batch from a retired endpoint (GRO-coalesced when the kernel
// can) is handed to wireguard-go with the replacement endpoint, a datagram
// from another address and a QUIC datagram from the retired one keep
// their real source, and an expired table is dropped by the receive path.
func TestBindHoldsRetiredEndpoints(t *testing.T) {
	server, fns, m := openTestBind(t, netip.IPv4Unspecified())
	retired, _, _ := openTestBind(t, netip.MustParseAddr("127.0.0.1"))
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), server.localPort())
	from := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), retired.localPort())
	replacement := newEndpoint(netip.MustParseAddrPort("198.18.1.2:28444"), netip.MustParseAddr("198.18.0.1"), 0)
	r := &retirement{until: time.Now().Add(time.Minute)}
	server.retired.Store(&retiredTable{m: map[netip.AddrPort]retiredEntry{from: {to: replacement, r: r}}, until: r.until})

	const count = 5
	bufs := make([][]byte, count)
	for i := range bufs {
		b := make([]byte, 200, device.MaxMessageSize)
		copy(b, wgPacket(200, byte(i)))
		bufs[i] = b
	}
	if err := retired.Send(bufs, newEndpoint(to, netip.Addr{}, 0)); err != nil {
		t.Fatal(err)
	}
	if err := retired.sendControl([]byte{0x40, 1, 2, 3}, to, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.WriteToUDPAddrPort(wgPacket(200, 99), to); err != nil {
		t.Fatal(err)
	}
	got, eps := receiveWG(t, fns[0], count+1)
	for i := range got {
		switch seq := got[i][4]; {
		case seq == 99:
			if eps[i].dst != other.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Errorf("datagram from the other address handed over with %v", eps[i].dst)
			}
		case eps[i] != replacement:
			t.Errorf("datagram %d from the retired endpoint handed over with %v, want the replacement %v", seq, eps[i].dst, replacement.dst)
		}
	}
	if held := server.held.Load(); held != count {
		t.Errorf("held %d datagrams, want %d", held, count)
	}
	cc := newControlConn(m, server)
	cc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	if _, src, err := cc.ReadFrom(buf); err != nil || src.(*net.UDPAddr).AddrPort() != from {
		t.Errorf("QUIC datagram from the retired endpoint read from %v (%v), want %v", src, err, from)
	}

	// Once every entry expired, the receive path drops the table.
	expired := &retiredTable{m: map[netip.AddrPort]retiredEntry{from: {to: replacement, r: &retirement{}}}}
	server.retired.Store(expired)
	if err := retired.Send([][]byte{wgPacket(200, 7)}, newEndpoint(to, netip.Addr{}, 0)); err != nil {
		t.Fatal(err)
	}
	if _, eps := receiveWG(t, fns[0], 1); eps[0].dst != from {
		t.Errorf("after expiry the datagram was handed over with %v, want its source %v", eps[0].dst, from)
	}
	if server.retired.Load() != nil {
		t.Error("the receive path kept an expired table")
	}
}
