// Package clienttest provides an in-process fake home agent for testing
// the mobile node (client/, mobile/, cmd/mnode) without root: it speaks
// binding's control protocol over real QUIC on loopback, with the real TLS
// identity helpers, enrolment tokens, sticky virtual addresses, and the
// real binding cache (binding.Cache: RFC 6275 sequence numbers, care-of
// priorities and limits, per-device rate limit, lifetimes and expiry),
// but no data plane and no persistent store. It is the one fake home
// agent of the project; tests of the home agent itself use the real one.
package clienttest
