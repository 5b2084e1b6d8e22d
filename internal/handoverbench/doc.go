// Package handoverbench measures what a move of the mobile node costs a
// TCP stream, and deploys the three data paths it compares into a
// netlab.Lab: homeip (the real `ha` and `mnode` binaries), plain WireGuard
// (two stock wireguard-go processes configured statically with `wg`,
// persistent keepalive 25 s, as most deployments run it) and no tunnel at
// all. The end-to-end tests (internal/e2e) and `homeip-lab demo` use the
// same deployment and stream helpers, so what the benchmark measures is
// exactly what the tests prove.
//
// # Method
//
// Every move is measured on a stream of its own, with the node receiving
// only: the node dials cn (from its VIP through the tunnel, or from its
// link address without one) and writes a 16-byte token once, so that cn
// accepts this very connection; from then on cn sends a streamprobe record
// every Interval and the node only reads (its TCP stack still
// acknowledges what arrives, as any receiver's does). The stream
// runs until delivery is steady, the lab performs the move, and the
// harness waits until records flow again without a pause for Hold, or
// until Window has passed since the move. Then cn stops sending and the
// node checks the end record's byte count and SHA-256.
//
// A move's gap is the longest delivery pause at the node (time between
// two record arrivals) that began in the move's window. A move that caused
// no pause above the gap threshold (3 × Interval, at least 5 ms) is
// counted at the threshold, an upper bound. A stream that did not resume
// within Window has no finite gap: its gap is shown as ">Window" and it
// counts as broken, as does a stream that was reset or whose checksum or
// byte count differ, or that could not be set up at all.
//
// Kinds (the numbering of issue 8 for 1-3; AllKinds, the default, and
// KnownKinds are all eight):
//
//  1. Wi-Fi → cellular: wlan0 loses its addresses and goes down, wwan0
//     (behind two NATs) comes up.
//  2. cellular → Wi-Fi.
//  3. Wi-Fi dies silently: both links are up, Wi-Fi preferred, and the
//     Wi-Fi router starts dropping everything from and to the node; only
//     keepalives or path probing can notice. The drop is lifted after the
//     measurement.
//  4. Wi-Fi NAT flushed: the node is on Wi-Fi only and the Wi-Fi router's
//     connection tracking is emptied, so the node's next packet gets a new
//     public port; nothing changes on the node's links.
//  5. Wi-Fi → standby cellular: both links are up (cellular registered as
//     the standby care-of address), then wlan0 loses its addresses and goes
//     down; wwan0 is not touched.
//  6. Wi-Fi → cellular as 1, measured on a bulk transfer (StreamSpec.Bulk:
//     the sender's writes block on the network) instead of spaced
//     records, so full-size segments meet the cellular link's MTU (1280
//     on the field profile) right after the move.
//  7. IPv4-only Wi-Fi (behind NAT) → IPv6-only cellular: the underlay
//     changes IP version (netlab MoveToWifiIPv4, MoveToCellIPv6).
//  8. IPv6-only cellular → IPv4-only Wi-Fi.
//
// # Profiles
//
// Config.Profiles names the access networks (netlab.Profile) to measure
// every kind under, "field" by default; the profiles run one after
// another, each with labs of its own, and the table has one column
// group per profile. Beside homeip's figures it prints the goals (Goals):
// moves 1 and 2 a median of at most the cellular round trip + 50 ms and a
// p99 of at most 300 ms, the NAT flush a median of at most 1 s, the
// silent Wi-Fi at most 1 s.
//
// Each path runs in a lab of its own, so the three never share a routing
// table or a namespace; by default the three labs run at once, which
// costs little since a path that waits for a stalled stream uses no CPU
// (Config.Sequential runs them one after another).
//
// # Deployments
//
// HomeIP starts `ha serve` in the lab's ha namespace with the lab's VIP
// pools and tunnel addresses, creates a device with `ha device add`,
// enrols `mnode` in the mn namespace and starts `mnode up`, then waits for
// `mnode status --json` to report the node registered with its VIPs.
// WireGuard interfaces are named after the lab prefix because
// wireguard-go's UAPI sockets live in /var/run/wireguard, outside any
// network namespace.
package handoverbench
