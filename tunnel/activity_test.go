package tunnel

import (
	"net/netip"
	"testing"
)

func activityPending(m *demux) bool {
	select {
	case <-m.activity:
		return true
	default:
		return false
	}
}

func TestDemuxActivity(t *testing.T) {
	from := netip.MustParseAddrPort("198.18.0.2:51820")
	m := newDemux()
	defer m.close()
	if activityPending(m) {
		t.Fatal("activity before any datagram")
	}
	sortBatch(m, [][]byte{{0x41, 0xaa}, {0x80, 0, 0, 0}}, from)
	if activityPending(m) {
		t.Error("QUIC and dropped datagrams signalled WireGuard activity")
	}
	// Several WireGuard batches leave one signal.
	sortBatch(m, [][]byte{{4, 0, 0, 0, 1}, {0x41, 0xaa}}, from)
	sortBatch(m, [][]byte{{4, 0, 0, 0, 2}, {4, 0, 0, 0, 3}}, from)
	if !activityPending(m) {
		t.Fatal("no activity after WireGuard datagrams")
	}
	if activityPending(m) {
		t.Error("signals not coalesced")
	}
	// Sending signals too.
	m.signalActivity()
	if !activityPending(m) {
		t.Error("signalActivity left nothing")
	}
}
