// Package clienttest provides an in-process fake home agent for testing
// the mobile node (client/) without root: it speaks binding's control
// protocol over real QUIC on loopback, with the real TLS identity
// helpers, enrolment tokens, sticky virtual addresses and RFC 6275
// sequence numbers, but no data plane and no persistent store.
package clienttest
