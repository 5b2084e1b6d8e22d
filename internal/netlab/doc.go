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
// Lifetime: Close deletes everything a lab built; CloseAll closes every lab
// of the process (for signal handlers); a lab's owner (pid and start time)
// is recorded under /run/homeip-netlab so that CleanAll removes the labs
// of killed runs and never those of a live process.
package netlab
