package binding

import "time"

// InitialPacketSize is the UDP payload size of the QUIC packets both ends
// of a control connection send before path MTU discovery has found
// more (quic.Config.InitialPacketSize): 1232 bytes, the payload of a
// 1280-byte IPv6 packet (1280 - 40 - 8), so the handshake fits the
// smallest link IPv6 allows, and every IPv4 link of that size too, without
// relying on fragmentation. quic-go's default of 1280 makes 1308-byte
// IPv4 and 1328-byte IPv6 packets, which a 1280-byte link (common on
// cellular) drops: a handshake packet lost that way costs a probe timeout
// (about 200 ms) before its retransmission, fragmented, gets through.
const InitialPacketSize = 1232

// PathMTUSettle is how long after its last confirmed size both ends
// count a quiet path MTU search as concluded, on a connection whose
// smoothed RTT is srtt (0 when not known yet). quic-go reports a search's
// end only when an acknowledged probe ends it; one that ends with lost
// probes just stops. Probes go out five RTTs apart while the device keeps
// the connection sending during a search, so a search quiet for four
// probe intervals is over: at least 250 ms, at most 3 s (the bound for an
// unknown RTT), since until it concludes the node's traffic over a
// smaller path than assumed is lost.
func PathMTUSettle(srtt time.Duration) time.Duration {
	if srtt <= 0 {
		return 3 * time.Second
	}
	return min(max(20*srtt+srtt, 250*time.Millisecond), 3*time.Second)
}

// SearchAssistDatagram is the one-byte QUIC datagram a device sends to
// keep a fresh control connection sending while path MTU discovery runs;
// the home agent echoes it while its own search runs. Any other datagram
// (a keepalive is {0}) is read and dropped.
const SearchAssistDatagram = 0x01
