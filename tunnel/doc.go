// Package tunnel is homeip's data plane: a wireguard-go device on a TUN
// whose peers are added, removed and re-pointed, and the one UDP socket
// that WireGuard shares with the QUIC control channel.
//
// # Seam
//
// DataPlane is what the home agent and the mobile node drive: SetPeer,
// RemovePeer, SetEndpoint, Peers, Rebind, Close. *Device is the real
// implementation (Linux and Android); tunneltest.DataPlane is an in-memory
// fake with the same semantics for tests without root.
//
// # Device
//
// New creates the interface with wireguard-go's own Linux TUN
// (tun.CreateTUN, or tun.CreateUnmonitoredTUNFromFD for a descriptor handed
// in by a mobile OS), so the TUN keeps its virtio-net-header offloads
// (TSO/GRO). Addresses, MTU and routes are set through a *netlink.Handle.
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
// # Namespaces
//
// The TUN and the socket live in the network namespace of the thread that
// calls New; the Device remembers it and reopens its socket there on
// Rebind, from whatever thread Rebind is called.
package tunnel
