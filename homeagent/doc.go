// Package homeagent is the homeip server: the QUIC control listener,
// enrolment, registration, binding updates applied to the data plane, DNS,
// the admin API and metrics. cmd/ha chooses the concrete store
// (store/bboltstore) and data plane (tunnel.Device) and hands them to New;
// tests use tunnel/tunneltest and drive the real protocol over QUIC on
// loopback.
//
// # Control connections
//
// The QUIC listener runs on the data plane's shared UDP port (ControlConn),
// TLS 1.3 with ALPN homeip/1 and a client certificate required
// (binding.ServerTLSConfig). The device's identity is the ed25519 key of that
// certificate; the registry decides what it may do. One bidirectional stream
// carries the messages of package binding:
//
//   - Enroll redeems a one-time token (stored hashed, expiring, redeemed at
//     most once, atomically in the store) and binds the connection's key and
//     the WireGuard key to the device. Unknown, used and expired tokens are
//     all StatusBadToken; the reason is logged, not told. The token is
//     looked up read-only first, so a bad one costs no write transaction;
//     a refused enrolment (or a Register with an unknown identity key)
//     counts against its source (an IPv4 address or an IPv6 /64: a burst
//     of 5, then one every 2 s, StatusRateLimited beyond), ends the
//     connection, and is logged within a budget of its own.
//   - Register authenticates by the TLS key (StatusUnauthorized for an
//     unknown key or a WireGuard key that differs from the enrolled one,
//     StatusRevoked for a revoked device), leases the sticky VIPs
//     (lease.AssignVIPs), materialises the WireGuard peer with AllowedIPs
//     exactly VIP/32 and VIP/128 and answers with the whole configuration.
//     A device without a binding has its peer pointed at the address the
//     registration came from; one with a binding keeps its primary path.
//   - BindingUpdate goes to binding.Cache.ApplyInto with the address the
//     QUIC packet carrying it was observed from: the care-of address is
//     NAT-safe. The event the cache returns re-points the peer before the
//     ack is written, so the endpoint has moved when the device learns its
//     update was accepted.
//   - Heartbeat is echoed with the observed address; Deregister removes the
//     binding and retires the peer.
//
// quic-go only switches RemoteAddr after validating a migrated path, so a
// mobile node opens a new connection from its new path after a move. A
// device may therefore have several connections; the newest registered one
// wins and the older ones are closed.
//
// # NAT rebinding
//
// A NAT that forgets a device's mapping (conntrack flushed, timed out)
// gives its next packet a new public port with nothing changing on the
// device. quic-go then probes the new address and keeps sending to the
// old, dead one until the probe is answered, and RemoteAddr() still names
// the old one; a receive-only device sends WireGuard nothing that would
// make WireGuard roam. So the home agent follows each connection's paths
// through quic-go's qlog events (connPaths, the connection's
// quic.Config.Tracer): "observed" is the address the latest packet came
// from. A heartbeat on the device's current connection that arrives from
// another address than its primary path was bound from re-points the
// WireGuard peer at once (followRebinding) and tells the device the new
// address in the acknowledgement; the device's binding update follows
// and moves the binding.
//
// # Path MTU
//
// Control connections start with 1232-byte packets
// (binding.InitialPacketSize), which fit a 1280-byte link, IPv4 or IPv6;
// quic-go's path MTU discovery stays on. connPaths also takes the
// discovery's results (qlog.MTUUpdated) on each connection: the home
// agent sends the probes, so they measure the downlink of the device's
// path, and every move opens a new connection with a search of its own.
// The policy (downlinkMTU, nextDownlinkMTU, pure and table-tested) is
// optimistic: a new primary path starts at the limit the device announced
// for it in its binding update (BindingUpdate.PathMTU: its access
// interface's bound or what it found there before), or with no per-peer
// limit (the interface MTU) when it announced none, until its search
// concludes; the result, never above the announcement, then limits the peer
// (DataPlane.SetPeerMTU with tunnel.InnerMTU of the UDP payload), unless
// the search stopped at quic-go's own ceiling. A NAT rebinding makes
// quic-go search the same network again, and the limit found stays until
// that search says more. quic-go reports a search's end only when an
// acknowledged probe ends it, so one that went quiet for binding.PathMTUSettle counts
// as concluded. `ha binding list` shows each binding's path MTU and
// whether it is the interface's, the device's, a search under way or
// discovered.
// quic-go searches only on a socket that sets the Don't Fragment bit; a
// ControlConn that is not one (the shared tunnel socket today) yields no
// results and the peers keep the interface MTU.
//
// # Peers are materialised lazily
//
// Only devices with a registration or a binding have a live WireGuard peer.
// The binding cache's expiry retires the peer (the lease stays); a
// registration that is never followed by a binding update is retired after
// its lifetime. Devices exported as wg-quick configurations (ExportDevice)
// have no mobile node to register, so their peer is permanent and roams the
// plain WireGuard way; the set of such devices is kept in the data
// directory (StaticDevicesFile).
//
// # Bindings across restarts
//
// Bindings are soft state, but the home agent keeps the last known ones
// in the data directory (BindingsFile), so that a restart — SIGTERM or
// kill -9 — does not leave idle devices unreachable until their next
// heartbeat. Every change of a binding (an accepted update, a move,
// expiry, removal, a new path MTU) marks the device; a goroutine owned by
// Run gathers the marks for 100 ms (longer once the file is large: at
// most 4 MB are written a second) and replaces the file atomically
// (temporary file, fsync, rename, directory fsync): one write per batch,
// never one per update, and a crash leaves the old file or the new one.
// Run writes once more at shutdown. At start, before the control
// listener opens, each kept binding whose device still exists with the
// same WireGuard key, is not revoked and has not expired goes back into
// the cache with its sequence number and remaining lifetime
// (binding.Cache.Restore), and its peer is re-created at the primary
// care-of address with the path MTU limit it had. A damaged file, or one
// of a newer format, is refused as a whole (ErrBindingsCorrupt,
// ErrBindingsVersion), logged, moved aside and ignored. Updates accepted
// in the last batch before a kill -9 may be lost: the sequence number
// then comes back slightly behind, and only an update replayed from that
// window would be taken as new.
//
// # Revocation, drain, shutdown
//
// Revocation marks the device in the store, removes its binding and peer at
// once, sends its control connections a Deregister with StatusRevoked and
// closes them half a second later (so the message arrives), and refuses
// every later request. The device keeps its leases: its addresses are
// quarantined in the strongest sense, never handed to anyone else while the
// record exists.
//
// Drain sends every registered device a Switch naming the configured other
// home agent (or, without one, a Deregister with StatusUnavailable), refuses
// new registrations and stops the server a second later. Run returns after
// a clean shutdown: connections closed, every peer it added removed, DNS,
// metrics and the admin socket closed. The caller then closes the data
// plane (removing the interface) and the store.
//
// # Operator surface
//
// The admin API (package adminapi) is served on a Unix socket of mode 0600;
// Server implements adminapi.Backend. DNS (package dns) answers for
// <device>.<zone> and the VIPs' PTR names only to queries whose source is a
// VIP. Metrics (package metrics) count registrations, binding updates and
// enrolments by status, and export active bindings, live peers, pool
// utilisation per prefix and a handover-latency histogram: from the arrival
// of the first packet on the new path (the new control connection's accept,
// or the update itself on an existing connection) to the ack that follows
// the re-pointed endpoint.
//
// # Concurrency
//
// Server is safe for concurrent use. Every goroutine it starts (accept loop,
// one per control connection, the sweeper that expires bindings and
// pending registrations, the bindings keeper, the metrics server) is owned
// by Run and has ended when Run returns.
//
// Each device's soft state (registration, live peer, binding times) is one
// record with its own lock, the device lock; everything that changes a
// device's registration, binding or peer holds it, so one device's changes
// happen one at a time. The lock order is the device lock, then Server.mu;
// the binding cache calls nothing back and its locks, the index's and the
// data plane's are held only inside their own calls (see devState).
package homeagent
