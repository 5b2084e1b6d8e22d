// Package netlab builds the homeip lab topology from real Linux network
// namespaces, veth pairs and nftables NAT, for end-to-end tests, the demo
// and the benchmarks.
//
// Topology (one namespace per node, named Prefix-role):
//
//	[cn] --home lan-- [ha] --198.18.1.0/24-- [wifi: NAT] --wlan0-- [mn]
//	                       \-198.18.2.0/24-- [carrier: CGNAT] -- [cell: NAT] --wwan0-/
//
// Cellular traffic crosses two NAT stages (cell router, then carrier), as
// on real carriers. Every router masquerades IPv4 leaving its wan0 with
// fully-random port allocation; IPv6 is routed end to end. The fixed
// addressing plan is in addr.go. The root namespace gets no lab address or
// route, forwarding is enabled only inside lab routers, rp_filter is off
// and IPv6 duplicate address detection is disabled so addresses are usable
// at once.
//
// The lab is driven with the `ip` (in -batch mode, one exec per step) and
// `nft` commands, and with netlink handles bound to a namespace where a
// command does not exist (conntrack flush). Moves of the mobile node flush
// the addresses of the link that goes away and set it down, as a lost radio
// does; RenumberWifi swaps wlan0 between two subnets behind the Wi-Fi
// router.
//
// # Access networks
//
// Options.Network describes what mn's two access links are like; its zero
// value is the ideal lab (1500-byte MTUs, no delay or loss, NATs with the
// kernel's default timeouts, dual stack), and Profile returns named ones
// ("ideal", "field", "hotel", "field-v6"; LinkProfile for single links:
// WifiProfile, HotelWifiProfile, CellularProfile, CellularV6Profile). Each
// LinkConfig sets, for one link:
//
//   - MTU: the access link's MTU, on mn's interface and the router's.
//   - PathMTU, SilentPath: a smaller MTU further along, as locked route
//     MTUs in the access router (its default routes and host routes to
//     mn's addresses), so forwarding drops oversize IPv4-with-DF and IPv6
//     packets and fragments IPv4 without DF. The router answers with ICMP
//     frag-needed / packet-too-big, unless SilentPath, where an nftables
//     rule in its output hook drops those: a PMTU black hole. SetPath
//     changes it while the lab runs, with no event at mn.
//   - NATUDPTimeout: conntrack's UDP timeouts (unreplied and stream) in
//     the namespaces of the link's NAT stages. An expired mapping is
//     gone at the next packet; a packet from outside to the old public
//     port no longer reaches mn. FlushNAT forgets every mapping of one
//     router at once, FlushPathNATs those of every NAT on mn's paths.
//   - NAT: NATSymmetric (the default: masquerade fully-random, an
//     endpoint-dependent mapping with a random port per 5-tuple, and
//     address- and port-dependent filtering, as every Linux masquerade)
//     or NATPortPreserving (the inside port is kept when free).
//   - Loss: an nftables numgen rule in the access router's raw
//     prerouting drops that share of packets arriving from mn and from
//     upstream, each direction independently; neighbour discovery is
//     exempt.
//   - Delay, Jitter: the delay relay (delay.go). This kernel has no netem
//     and no fq qdisc, so neither netem's delay nor eBPF earliest
//     departure times are available; tbf only shapes. The access router
//     queues both directions' packets to NFQUEUE (iptables-nft, because
//     nftables' own queue expression is not built; --queue-bypass, so
//     packets pass undelayed if the relay is gone), and a relay in this
//     process, owned by the Lab and stopped by Close, reads only packet
//     metadata and accepts each packet when its delay has passed, in
//     arrival order (release times never decrease, so jitter cannot
//     reorder), with one batch verdict for everything due. A full kernel
//     queue (65536 packets) drops new packets, like a full router buffer.
//     Where loss or delay is set, the two interfaces transmitting into
//     the access router (mn's, and ha's or the carrier's) get
//     gso_max_segs 1, so loss and delay act on real packets, not on
//     64 KiB GSO super-packets.
//   - Family: DualStack, IPv4Only or IPv6Only addressing of mn on the
//     link. MoveToCellIPv6 and MoveToWifiIPv4 switch the underlay's IP
//     version whatever the configuration says.
//
// Node.Ping sends DF echo requests from a namespace and reports replies,
// round-trip times, reordering and ICMP too-big errors; the tests use it
// to prove each property, and it is there for end-to-end tests too.
//
// Lifetime: Close deletes everything a lab built; CloseAll closes every lab
// of the process (for signal handlers); a lab's owner (pid and start time)
// is recorded under /run/homeip-netlab so that CleanAll removes the labs
// of killed runs and never those of a live process.
package netlab
