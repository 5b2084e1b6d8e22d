// Package tunnelbench measures TCP throughput between two network
// namespaces over three paths in one run: (a) the bare veth pair, (b)
// stock wireguard-go (library device, stock conn.StdNetBind, stock Linux
// TUN) and (c) homeip's tunnel.Device with its shared WireGuard+QUIC port,
// with the same keys, addresses and topology for (b) and (c). It reports
// Gbit/s for each and the ratios homeip/stock and stock/veth.
//
// Topology (namespaces named <prefix>s and <prefix>c, prefix "hip" and 6
// random hex digits, removed at the end, also on failure):
//
//	[s] veth 198.18.0.1/24 ------ veth 198.18.0.2/24 [c]
//	    stock wg  192.0.2.1/24        192.0.2.2/24
//	    homeip    198.51.100.1/24     198.51.100.2/24
//
// Each WireGuard device runs in a child process of its own (the calling
// binary re-executed under `ip netns exec`, see ChildMain), the way the
// real ha and mnode run; the TCP sender and receiver run in the calling
// process on sockets opened inside the namespaces. The data path is
// identical for (b) and (c) except for what is being compared.
//
// RunPathMTU (`homeip-lab bench-throughput -path-mtu`) measures instead
// two homeip tunnels over a veth of MTU 1280, as a cellular link: one with
// the default interface MTU told the path's limit with SetPeerMTU (what
// ha and mnode do once they learnt it), one whose interface MTU was set by
// hand to fit the path; it reports their ratio (goal ≥ 0.80).
//
// Entry points: Run(ctx, Options) for `homeip-lab bench-throughput`;
// ChildMain, which every binary that calls Run must call first thing in
// main (or TestMain); and, in this package's tests, BenchmarkThroughput
// (go test -run '^$' -bench Throughput ./internal/tunnelbench/) and
// TestThroughput behind -tunnelbench.
package tunnelbench
