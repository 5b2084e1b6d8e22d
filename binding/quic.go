package binding

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
