// Package netlab builds the homeip lab topology from real Linux network
// namespaces, veth pairs and nftables NAT, for end-to-end tests, the demo
// and the benchmarks.
package netlab
