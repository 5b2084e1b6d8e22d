// Package client is the homeip mobile node: enrolment, bring-up of the
// local tunnel, movement detection, binding updates, keepalives and
// reconnection. cmd/mnode (Linux, netlink) and mobile/ (a phone's OS) are
// thin shells that choose the concrete data plane and OS seams and hand
// them to a Node.
//
// # Seams
//
//   - DataPlane (tunnel.DataPlane plus ControlConn): the WireGuard data
//     plane and the QUIC side of its one shared UDP socket. The node
//     never picks one; Config.NewDataPlane does.
//   - NetWatcher: the network state as a State (usable interfaces, their
//     kind, addresses and default routes). client/netmon watches netlink;
//     PushWatcher takes states pushed by a mobile OS.
//   - Host: addresses and routes on the tunnel interface and the host
//     routes that keep the home agent outside the tunnel (client/netmon on
//     Linux; nil on a phone, whose OS does it).
//
// Decisions are pure and table-tested: Diff (did the path change, which
// link is primary, which is standby), KeepaliveLearner (how long an idle
// NAT mapping lives) and Backoff (when to retry). Node is the I/O shell.
//
// # Control session
//
// QUIC (quic-go) over the data plane's shared socket through one
// quic.Transport, TLS 1.3, ALPN homeip/1; the client certificate is the
// device's ed25519 identity key, the home agent is pinned by the
// fingerprint of the enrolment token. One bidirectional stream per
// connection carries binding's messages; the home agent answers requests
// in order, so acknowledgements are matched first in, first out
// (heartbeats by nonce). Register and the first BindingUpdate of a
// connection go out in one write, so a connection is registered and bound
// one round trip after its handshake.
//
// # Moves
//
// On a path change (Diff), the node (1) routes the home agent's addresses
// through the new primary link with a host route (Host.RouteHomeAgent:
// this, not the kernel's default-route metrics, picks the link the tunnel
// leaves by, and keeps the home agent outside a full tunnel), (2) calls
// DataPlane.Rebind (wireguard-go BindUpdate, cached source addresses
// cleared), (3) when the link it leaves is gone, sends the home agent's
// WireGuard peer two keepalives from the new path (the data plane's
// optional SendKeepalive; tunnel.Device has it), (4) opens a NEW QUIC
// connection over the shared socket and sends Register + BindingUpdate on
// it at once, and (5) closes the old connection only after the new one is
// acknowledged (make-before-break).
// A new connection rather than QUIC path migration: quic-go v0.65's server
// switches RemoteAddr only after path validation, so the home agent could
// still see the old address when the update arrives; a new connection's
// address is the NAT-mapped care-of address from its first packet. The
// home agent re-points the WireGuard endpoint before it acknowledges.
// If the new path fails while the old link and connection still work,
// the node stays there and avoids the new link for Config.SuspectFor.
//
// The keepalives are authenticated datagrams, so the home agent's
// WireGuard points the device's peer at their source, the new care-of
// address as the NAT maps it, half a round trip after the move; the
// binding update arrives a round trip later (handshake, then the update)
// and names the same address, retiring the one the device left, so late
// datagrams from the old path cannot pull the peer back. In the field lab
// (cellular 60 ms round trip) the home agent follows a node that left
// Wi-Fi 40-65 ms after the node's last Wi-Fi packet instead of about
// 110 ms, when the binding update arrives. While the link the node leaves
// still works it sends no keepalives (announceOnMove): the home agent
// keeps sending there until the binding update, which also carries the
// new path's MTU, has been accepted.
//
// What a move costs a TCP stream toward the node is often set by its
// sender rather than by the node. A sender whose congestion window filled
// with segments sent into the old path (in the lab a stream of small
// records every 2 ms stops 30-40 ms after the move) sends nothing more
// until its tail loss probe or its retransmission timeout (Linux: at
// least 200 ms). The probe leaves before the home agent follows, or after
// it but sized for the old path and too large for a narrower new one
// until the binding update sets the peer's MTU; so in the field lab most
// moves from Wi-Fi to cellular still cost such a stream about 300 ms. A
// sender that still has data in flight after the re-point recovers from
// the node's SACKs one round trip later (about 150 ms).
//
// Binding ids (RFC 5648) are interface indexes. Every update carries the
// primary entry (the one it is sent over, Via) and, when a second link is
// usable, a standby entry with a lower priority; FlagOverwrite makes the
// listed entries the whole set.
//
// # Sequence numbers
//
// 16-bit, compared as RFC 6275 §9.5.1 says (binding.SeqNewer), persisted
// in the state directory after every accepted update. A stale-sequence ack
// carries the home agent's number; the node continues from it and resends
// once (one more round trip).
//
// # Keepalives and dead paths
//
// The node's own Heartbeat messages on the control stream are the
// keepalives: they share the socket, hence the NAT mapping, with
// WireGuard, so WireGuard's persistent keepalive stays off and an idle
// device sends one small packet per interval. Learning the NAT's idle
// timeout never risks that mapping: a second UDP socket (its own NAT
// mapping towards the home agent's port) asks the home agent for idle
// probes (tunnel.IdleProbe: a nonce echoed once, no larger, after the
// delay asked for) and so tests ever longer idle gaps where a lost mapping
// costs nothing. KeepaliveLearner runs that search; IdleKeepalive takes
// the live interval from it: the longest gap proven on the probe socket
// less a margin (2 s or 5 %), 20 s while nothing is proven, the minimum
// after a live mapping was lost at an unproven interval. What was learned
// is remembered per network (NetworkKey) in keepalive.json in the state
// directory, so a restart or coming back to a known network starts from
// it, and a remembered result is checked once on the probe socket after
// a day. The live interval also stays below twice the home agent's
// suggested keepalive (its QUIC idle timeout is three). When the observed
// address changes (NAT
// rebinding) the node sends a binding update at once. A heartbeat that
// stays unanswered after Config.HeartbeatRetries quick retries marks the
// path dead: the node fails over to the standby link, or reconnects.
//
// # Stalled traffic
//
// The keepalive schedule alone notices a silently dead path (the link is
// up, nothing passes) only after an interval of up to minutes, and a
// receive-only device sends nothing that could notice it sooner. So the
// node also watches the home agent peer's WireGuard byte counters
// (DataPlane.Peers) with a StallDetector, a pure, table-tested decision:
// when a downlink that was flowing (it grew in two samples in a row) has
// been quiet for four path RTTs (at least 250 ms, at most 2 s), or data
// was sent and nothing came back for as long, the node sends a heartbeat
// at once with a timeout of three RTTs (at least 100 ms), retries once,
// and if neither is answered declares the path dead as above (failover
// to the standby link, make-before-break, binding update at once). An
// answered probe whose acknowledgement shows a new observed address found
// a NAT that forgot the mapping (Status.NATRebinds): the home agent has
// re-pointed the peer on the probe itself and the node sends a binding
// update at once; in the lab a flushed Wi-Fi NAT under a receive-only
// stream costs about 0.3 s instead of the 13-27 s it took to wait for the
// next keepalive. Any other answered probe is a false alarm
// (Status.StallFalseAlarms, logged at debug level); the detector then stays disarmed until the downlink
// grows again, so a path that merely went idle costs one probe per burst
// of traffic, sent while the radio is still awake from that traffic.
// Counters are sampled every 50 ms only while traffic flows; an idle
// node takes no samples and waits for the data plane's activity signal
// (tunnel.Device.Activity, raised by WireGuard datagrams), or samples
// every StallConfig.Idle when the data plane has none. In the lab a
// silent Wi-Fi failure under a receive-only TCP stream costs about
// 0.45 s to fail over; the stream's gap (about 0.75 s) is then set by
// the sender's TCP retransmission timer.
//
// # Path MTU
//
// Control connections start with 1232-byte packets
// (binding.InitialPacketSize), which fit a 1280-byte link, IPv4 or IPv6,
// and quic-go's path MTU discovery (DPLPMTUD, RFC 8899) stays on. Each
// connection has a qlog tracer that hands the discovery's results to the
// loop, and PathMTU, a pure, table-tested policy, turns them into the
// largest inner packet sent to the home agent (DataPlane.SetPeerMTU of
// its peer; Status.PathMTU and PathMTUSource). Every move opens a new
// connection, so every care-of path gets a search of its own. The policy
// is optimistic: a network not seen within PathMTUConfig.Remember (1 h)
// starts at the bound its access interface allows (Interface.MTU minus
// the outer IP, UDP and WireGuard headers; no limit when the MTU is
// unknown, as on a phone), a network seen before at what its last search
// found; every binding update announces it (BindingUpdate.PathMTU), so the
// home agent starts the device's downlink on a new path at the same bound
// and the first large packet toward the node is not lost on a narrower
// link; confirmed sizes only ever raise the value while a search runs;
// a concluded search sets it and is remembered per network (NetworkKey:
// interface, gateways, addresses), so coming back does not start over and
// every new connection searches upwards again. quic-go runs discovery only
// on a socket that sets the Don't Fragment bit; a data plane whose
// ControlConn is not such a socket gets no results, and the node then
// keeps the interface's bound.
//
// # Reconnection
//
// Jittered exponential backoff (Backoff). After a restart of either side
// the node registers again and gets the same VIPs (the leases are the home
// agent's hard state); a restarted node brings the tunnel up with the
// configuration saved from the last RegisterAck before the home agent
// answers. A Switch from the home agent (RFC 5142) makes the node register
// with the named home agent, pinning its fingerprint, before it leaves the
// old one; a Deregister with StatusRevoked, or a registration refused as
// revoked, stops the node with ErrRevoked.
//
// # State directory
//
// Mode 0700; files 0600, replaced atomically: identity.pem (ed25519,
// PKCS #8), wireguard.key (base64), state.json (Persisted: device id and
// name, home agent addresses and fingerprint, last configuration, last
// sequence number), a lock file held by the running node, and the default
// control socket mnode.sock (JSON lines, mode 0600; package
// client/controlapi).
//
// # Full tunnel
//
// 0.0.0.0/1, 128.0.0.0/1, ::/1 and 8000::/1 go into the tunnel (AllowedIPs
// 0.0.0.0/0 and ::/0): more specific than any default route, so the
// physical default routes stay untouched and the home agent's host routes
// (more specific still) keep the tunnel's own packets outside it.
package client
