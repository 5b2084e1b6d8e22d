// Package pool decides which virtual addresses (VIPs) a device gets: IPv4
// and IPv6 prefixes, sticky identity-keyed leases, reservations,
// quarantine and exhaustion. It is pure policy on net/netip with no I/O of
// its own; the store commits what the pool proposes, and package
// homeagent/lease runs the loop between them (lease.AssignVIPs).
//
// # Addresses
//
// A pool has any number of IPv4 and IPv6 prefixes. It never proposes a
// prefix's network address (host part all zeros: the IPv4 network address,
// the IPv6 subnet-router anycast address) or its all-ones host address (the
// IPv4 broadcast), except in /31, /32, /127 and /128 prefixes where every
// address is usable, and never an address inside Config.Exclude (the home
// agent passes its own tunnel addresses there).
//
// # Stickiness
//
// A device is identified by a string (the home agent uses the device id,
// which re-enrolment keeps). The device keeps whatever it holds; a device
// without a lease in a family gets, in this order: its reservation, the
// address it released recently if still quarantined for it, or a fresh
// address. Fresh addresses are derived from the identity in the spirit of
// RFC 7217: candidate i is the prefix with its host bits taken from
// SHA-256(prefix || 0 || identity || i). The first 16 candidates are
// tried; then a linear probe from candidate 0 (wrapping inside the prefix)
// finds a free address if the prefix has one. Prefixes are tried in
// configuration order. This is deterministic: the same state and identity
// always give the same proposal, and in a sparse pool the same identity
// gets the same address again even after its quarantine has expired. The
// same rule is used for IPv4, where the space is small enough for the
// linear probe to matter.
//
// # Quarantine
//
// Released addresses are quarantined (Config.Quarantine, default 24 h)
// before another device can get them; the previous holder can have them
// back meanwhile. Only when a family has no free address left does the
// pool hand out the quarantined address with the oldest release, and when
// none is left either, Propose fails with ErrExhausted.
//
// # Consistency with the store
//
// The pool's state is a cache of the store's: it is filled at start
// (lease.LoadPool, which sizes it with Grow and hands it each device's
// leases at once with HoldDevice) and told about every committed change
// (Hold, Reserve, Release, Quarantine, ForgetDevice). Hold accepts what the store
// committed even if the pool believed otherwise (the store is the truth);
// that is how a conflict reported by the store, because another writer
// allocated meanwhile, makes the next proposal a different address.
//
// # Concurrent proposals
//
// Propose records nothing durable, but it remembers each proposal for up
// to 30 s (or until Hold) and does not propose the same address to another
// device meanwhile, so many registrations at once do not all race for one
// address in the store. Only when nothing else is free are such addresses
// proposed again.
//
// # Memory
//
// Devices are interned (one record per device that holds, reserves or
// has quarantined an address, freed with its last address) and the
// address map has pointer-free 16-byte keys and 8-byte values, which is why
// IPv6 prefixes may not overlap the IPv4-mapped range ::ffff:0:0/96. A
// million devices with an IPv4 and an IPv6 lease take about 100 bytes of
// heap per lease (BenchmarkMemory, and BenchmarkLoad1M in bboltstore).
//
// A Pool is safe for concurrent use; every method takes one mutex.
package pool
