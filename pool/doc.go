// Package pool decides which virtual addresses (VIPs) a device gets: IPv4
// and IPv6 prefixes, sticky identity-keyed leases, reservations, quarantine
// and exhaustion. It is pure policy on net/netip with no I/O; the store
// commits what the pool proposes.
package pool
