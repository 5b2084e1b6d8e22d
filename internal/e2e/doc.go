// Package e2e holds homeip's end-to-end tests: the real `ha` and `mnode`
// binaries, built once per test run, deployed in a netlab lab (see
// handoverbench.StartHomeIP), with long TCP streams between the
// correspondent node and the mobile node's VIPs checked byte for byte
// (SHA-256) through every kind of move of issue 8 and through a home
// agent restart.
//
// The tests need root and network namespaces. Without them they skip, or
// fail when HOMEIP_REQUIRE_LAB=1 (as `make test` sets it).
//
// Layout: one lab with one home agent and one node per group of runs.
// TestMoves has two groups that run in parallel, the node receiving only
// and the node sending; each walks through the six moves in order, and
// every run carries an IPv4 and an IPv6 stream at once, each checked on
// its own. TestHomeAgentRestart has a lab of its own. TestDemo and
// TestBenchHandoverCommand run `homeip-lab demo` and a one-move
// `homeip-lab bench-handover` as a user would. The tests assert
// survival (no reset, equal SHA-256, VIPs unchanged), never timing; the
// gaps they log are measured properly by `homeip-lab bench-handover`.
package e2e
