// Package tunnel is homeip's data plane: a wireguard-go device on a TUN
// whose peers are added, removed and re-pointed, and the one UDP socket
// that WireGuard shares with the QUIC control channel.
//
// # Seam
//
// DataPlane is what the home agent and the mobile node drive: SetPeer,
// RemovePeer, SetEndpoint, SetPeerMTU, Peers, Rebind, Close. *Device is the real
// implementation (Linux and Android); tunneltest.DataPlane is an in-memory
// fake with the same semantics for tests without root. tunneltest.Run is
// the contract as a conformance suite; both pass it.
//
// # Device
//
// New creates the interface with wireguard-go's own Linux TUN
// (tun.CreateTUN, or tun.CreateUnmonitoredTUNFromFD for a descriptor handed
// in by a mobile OS), so the TUN keeps its virtio-net-header offloads
// (TSO/GRO). Addresses, MTU and routes are set through a *netlink.Handle
// by ConfigureLink, which the mobile node's netmon.Host also uses for the
// VIPs and routes it is handed: one configurator of a tunnel interface,
// whose routes carry protocol RouteProtocol (`ip route show proto 0x68`).
// A UAPI socket at /var/run/wireguard/<iface>.sock lets `wg show <iface>`
// and wgctrl read the live state; Close removes it, the interface and the
// socket, and waits for every goroutine.
//
// # One port for WireGuard and QUIC
//
// The Device's conn.Bind is wireguard-go's StdNetBind, Linux path,
// adapted: recvmmsg/sendmmsg with UDP GRO and GSO as before, and every
// received batch sorted in place by the first bytes of each datagram
// (WireGuard: type 1..4 then three zero bytes; QUIC: fixed bit 0x40).
// QUIC datagrams are copied to a bounded queue behind ControlConn, a
// net.PacketConn for quic.Transport, and their size in the batch is set to
// zero so wireguard-go skips them; WireGuard's batch is otherwise
// untouched. Anything else is dropped and counted (DemuxStats). QUIC sends
// go out through the same socket, so a device's control connection and
// its WireGuard endpoint share one NAT mapping. ControlConn survives
// Rebind: reads wait on the queue, writes use whichever socket is current
// (a write during the instant of reopening is dropped like a lost packet).
//
// # Replies leave from the address the peer sent to
//
// Stock StdNetBind reads IP_PKTINFO from the wrong message when it splits
// a UDP-GRO-coalesced read, so with GRO on every endpoint loses its
// destination address and a host with several addresses may answer from
// another one. This Bind keeps, for every datagram, the PKTINFO of the
// message it was read in, and sends replies with that source (both for
// WireGuard endpoints and for QUIC replies on ControlConn); a send whose
// sticky source has vanished is retried without it. A root test proves
// this with a responder holding two addresses. In addition,
// Config.ListenAddr may name one published address, and the socket then
// listens on it alone.
//
// # Re-points outrank late datagrams
//
// wireguard-go points a peer at the source of every authenticated
// datagram (Peer.SetEndpointFromPacket). That follows a NAT rebinding at
// once, which must keep working, but it also follows datagrams that a
// device sent just before it moved and that are still in flight on the
// path it left: a cellular link holds tens of milliseconds of packets.
// They arrive after the binding update re-pointed the peer and point it
// back at the path the device left; a receive-only device then gets
// nothing, sends nothing that would move it forward again, and waits for
// a WireGuard timer (15 s: wg show in the home agent's namespace saw the
// peer go back to the cellular address 21 ms after the re-point and stay
// there 15 s). The lab shows it with 30 ms of delay each way on cellular
// and an ideal Wi-Fi (`homeip-lab bench-handover -cell
// cellular,delay=30ms -kinds 2 -moves 10 -paths homeip`): 9 of 10
// cellular → Wi-Fi moves lost the stream before this, none after (every
// gap 36-39 ms). Over the field profile's Wi-Fi, whose 5 ms round trip
// keeps the device's acknowledgements coming after the late datagrams,
// it did not show in 10 moves.
//
// So a re-point (SetEndpoint, or SetPeer with another Endpoint) retires
// the endpoint the previous re-point named, for RetireHold (3 s), or
// until a re-point names it again (retire.go). The Device publishes the
// retired endpoints to the Bind as an immutable table swapped atomically.
// The receive path hands every WireGuard datagram from a retired endpoint
// to wireguard-go with the endpoint its peer was re-pointed to, instead
// of one for its source: it is decrypted, delivered and counts as a sign
// of life as before, and wireguard-go's roaming sets the endpoint the
// peer already has. Handshake messages are treated alike, so a late
// initiation is answered on the new path. Datagrams from any other
// address roam as in stock wireguard-go. This needs no change to
// wireguard-go: the Bind decides which conn.Endpoint a datagram comes
// with.
//
// Cost: with nothing retired, one atomic load per received batch; within
// RetireHold of a re-point, a clock read per batch and a map lookup per
// message read (the datagrams split out of one GRO-coalesced message share
// it; about 15 ns per datagram from distinct sources against 1000 retired
// endpoints, BenchmarkRetiredHold), until the receive path finds every
// entry expired and drops the table. A re-point rebuilds the table, in the
// number of endpoints retired in the last RetireHold. RetiredStats counts
// retirements and held datagrams; the first held datagram of each
// retirement is logged at Debug.
//
// Limits: the endpoint retired is the one the caller named, not one
// wireguard-go roamed to by itself since (the mobile node confirms a NAT
// rebinding with a binding update, which names it); and a datagram the
// Bind had already read when the re-point happened may still move the
// peer once.
//
// # Lazy peers
//
// Peers are configured through wireguard-go's in-process IPC (no socket
// round trip). Re-pointing and removing cost microseconds; adding costs a
// few hundred, almost all of it wireguard-go precomputing the static
// Diffie-Hellman for the new peer. A configured peer costs about 30 KB of
// heap and two goroutines, so a home agent materialises only the devices
// that are active. Measured on the 2-core development VM (loaded by other
// builds), `go test -run '^$' -bench 'PeerChurn|TenThousand' ./tunnel/`
// as root:
//
//	add one peer (1000 present)   ~270 µs
//	re-point one peer             ~6.5 µs
//	remove one peer               ~6-37 µs
//	10k peers                     ~290 MiB heap, 2.0 goroutines/peer
//
// # Throughput
//
// internal/tunnelbench compares TCP throughput over a bare veth, stock
// wireguard-go and this Device in one run (`go test -run Throughput
// ./internal/tunnelbench/ -args -tunnelbench -tunnelbench.rounds 3`). On
// the same VM the Device moved as much as stock wireguard-go or more
// (homeip/stock 0.84-1.22 across runs, within the host's noise); the Bind
// alone moves datagrams faster than StdNetBind (BenchmarkBindLoopback),
// because one endpoint serves every segment of a GRO batch.
//
// # Path MTU per peer
//
// SetPeerMTU tells the Device the largest inner packet a peer's current
// outer path carries (ha and mnode learn it with QUIC's DPLPMTUD). The
// tun.Device handed to wireguard-go is wrapped by a filter (mtufilter.go)
// that enforces it in both ha and mnode:
//
//   - Limits live in an immutable table (mtutable.go) swapped atomically
//     by SetPeer, RemovePeer and SetPeerMTU: /32 and /128 in a map, wider
//     prefixes in a short list, longest match, with the more specific
//     prefixes of unlimited peers that could shadow a limited peer's wide
//     prefix. The enforced limit is the value rounded down to 16, because
//     wireguard-go pads every packet to a multiple of 16 before
//     encrypting it (InnerMTU(1280-28) = 1220 is padded to 1232); a value
//     at or above the interface MTU is no limit (padding is capped there).
//   - Read (kernel → peers): wireguard-go's TUN hands over single packets
//     (it splits TSO super-packets into segments). A packet no longer than
//     the smallest limit costs one compare and the TCP SYN check; with no
//     limit at all, one atomic load per batch. TCP SYN and SYN-ACK get their
//     MSS option lowered to limit-40 (IPv4) or limit-60 (IPv6), checksum
//     updated incrementally. IPv6, and IPv4 with DF, over the limit are
//     dropped and answered with ICMP "fragmentation needed" (next-hop MTU)
//     or ICMPv6 "packet too big", at most one per 50 ms per inner source.
//     IPv4 without DF over the limit is fragmented here, as a router
//     would, into the batch's spare slots (dropped if there is no room).
//   - Write (peers → kernel): SYN and SYN-ACK from a limited peer are
//     clamped too, so both ends of a new connection stay under the limit.
//
// The ICMP error's source is the dropped packet's destination: it is
// routed through the TUN, so the kernel accepts it (one of the host's own
// addresses would be a martian, any other fails reverse-path filtering),
// forwards it to the sender on a home agent and delivers it locally on a
// mobile node; Linux applies it to the quoted destination whoever sent
// it. It is written with the TUN's own Write, which wireguard-go's writers
// share under NativeTun's write mutex.
//
// IPv6 requires links of 1280 bytes, so inner IPv6 is never held below
// that: with a limit under 1280, IPv6 packets up to 1280 bytes still go to
// the peer (a "packet too big" never says less than 1280) and the outer
// layer fragments their datagrams where the kernel knows the outer path
// MTU (a 1280-byte cellular link: the socket sets DF, the kernel refuses
// them, and they are sent again with DF off; see EMSGSIZE below). Across
// a silent black hole the kernel does not know, and they are lost. New
// IPv6 TCP connections are clamped to the real limit and never send them.
//
// # Don't Fragment and path MTU discovery
//
// The shared socket sets IP_PMTUDISC_DO / IPV6_PMTUDISC_DO when it is
// opened (also by Rebind), so every datagram, WireGuard and QUIC, leaves
// with DF and the kernel refuses what exceeds the path MTU it knows (the
// link's, or a smaller one learned from ICMP) with EMSGSIZE. DO rather
// than PROBE: PROBE checks only the local link, so a size ICMP taught the
// kernel would be sent anyway and lost further along.
//
// quic-go (v0.65) runs its path MTU discovery (DPLPMTUD, RFC 8899) only
// on a socket it can set DF on: ControlConn has a SyscallConn whose
// Control runs quic-go's setsockopt calls on the shared sockets (and
// re-applies DO after them, since quic-go sets PROBE) and a *net.UDPAddr
// LocalAddr, which is what quic-go checks. ControlConn stays a plain
// net.PacketConn otherwise (no ReadMsgUDP: no batching, GSO or ECN for
// QUIC). A probe refused with EMSGSIZE reaches quic-go as a WriteTo error
// that errors.Is EMSGSIZE, which it counts as a lost probe. The lab test
// TestDPLPMTUDSharedSocketLab watches quic-go's qlog over a silent
// 1280-byte hop: both ends conclude at 1251 bytes of UDP payload over
// IPv4 (1280-28 = 1252) and at 1231 over IPv6 (1232), also after a
// Rebind.
//
// # EMSGSIZE
//
// With UDP GSO the kernel refuses a whole message whose segment size
// exceeds the path MTU it knows (EMSGSIZE), and sendmmsg stops there.
// Send then re-sends that message's segments one by one without GSO (the
// last, shorter one may fit) and carries on with the rest of the batch. A
// datagram refused even alone is sent again after the batch with DF off,
// so that the kernel fragments it (SendStats.Fragmented): Linux has no
// per-datagram DF for IPv4, so the socket's mode is switched to DONT and
// back under a lock that every other send, WireGuard or QUIC, holds
// shared, and no other datagram leaves without DF meanwhile. Nothing of
// it fails the peer's send.
//
// A refusal is also a hint (sizehint_linux.go): the kernel knows a
// smaller path MTU toward that endpoint than the peer's limit allows. At
// most once per second per endpoint, a goroutine of the Device reads it
// (IP_MTU / IPV6_MTU of a UDP socket connected to the endpoint, in the
// Device's namespace, from the endpoint's source address) and lowers the
// limit of the peers at that endpoint to what it carries, as SetPeerMTU
// would; the filter then clamps and sends ICMP to inner senders at once,
// before QUIC's search concludes. The control side's next SetPeerMTU
// replaces it, as any SetPeerMTU does. SendStats counts the refused
// messages, the re-sent batches, the datagrams sent fragmented, the drops
// and the lowered limits (Hints); the log gets one line per 5 s per peer endpoint and cause,
// and one per lowered limit. MTUStats counts the filter's clamps, drops,
// fragments and ICMP errors.
//
// Measured on the same VM: the filter costs ~4.5 ns per full-size packet
// under a limit and nothing measurable without one (BenchmarkFilterRead);
// `homeip-lab bench-throughput -path-mtu` compares, over a 1280-byte
// link, a tunnel told the limit with SetPeerMTU against one whose
// interface MTU was set by hand to 1220: learned/by hand 0.82-1.20 over
// four runs (noise; no packet of a clamped connection is over the limit).
//
// # Namespaces
//
// The TUN and the socket live in the network namespace of the thread that
// calls New; the Device remembers it and reopens its socket there on
// Rebind, from whatever thread Rebind is called.
package tunnel
