// Package e2e holds homeip's end-to-end tests: the real `ha` and `mnode`
// binaries, built once per test run, deployed in a netlab lab (see
// handoverbench.StartHomeIP), with long TCP streams between the
// correspondent node and the mobile node's VIPs checked byte for byte
// (SHA-256) through every kind of move of issue 8, through bulk transfers
// across real access networks, and through a home agent restart.
//
// The labs have the "field" profile unless HOMEIP_LAB_PROFILE names
// another (HOMEIP_LAB_PROFILE=ideal for the ideal lab): Wi-Fi with a
// 1492-byte MTU and 5 ms round trip, cellular with a 1280-byte MTU,
// 60 ± 15 ms and 1 % loss each way, NATs that forget idle UDP mappings
// after 30 s (netlab.Profile).
//
// The tests need root and network namespaces. Without them they skip, or
// fail when HOMEIP_REQUIRE_LAB=1 (as `make test` sets it).
//
// Layout: one lab with one home agent and one node per group of runs.
// TestMoves has two groups that run in parallel, the node receiving only
// and the node sending; each walks through the seven moves in order, and
// every run carries an IPv4 and an IPv6 stream at once, each checked on
// its own. TestBulkTransfers has two groups in parallel: one lab with
// the suite's profile walks Wi-Fi → cellular → Wi-Fi, a Wi-Fi NAT flush
// with the node receive-only, Wi-Fi → the standby cellular, and
// IPv4-only Wi-Fi → IPv6-only cellular → IPv4-only Wi-Fi (the underlay
// changes IP version), with bulk transfers to and from both VIPs
// running through each; the other has a 1500-byte Wi-Fi and a 1280-byte
// cellular link for the 1500 → 1280 → 1500 walk. TestCellularMTU1280
// and TestHomeAgentRestart have a lab of their own each. TestDemo and
// TestBenchHandoverCommand run `homeip-lab demo` and a one-move
// `homeip-lab bench-handover` as a user would, on the suite's profile.
// A path whose oversize packets vanish without ICMP (the hotel profile)
// has tests of its own. The tests assert survival (no reset, equal
// SHA-256, VIPs unchanged), never timing; the gaps they log are measured
// properly by `homeip-lab bench-handover`.
package e2e
