// Package lease is the home agent's allocation policy, above the pool and
// the store: the pool proposes, the store commits, and this package runs
// the loop between them. It is the one place that knows both.
//
//   - AssignVIPs gives a device its sticky IPv4 and IPv6 VIPs durably: the
//     leases it holds, else the pool's proposals, committed in one store
//     transaction (all families or none). A conflict (another home agent
//     sharing the store allocated the address meanwhile) teaches the pool
//     the holder and the next proposal is tried.
//   - ReserveVIP pins a device to an address: the pool checks it, the store
//     commits it (moving the device's lease of that family), the pool
//     records the outcome and quarantines the address moved away from.
//   - RemoveDevice deletes a device from the store and quarantines its
//     addresses in the pool.
//   - LoadPool fills a fresh pool from the store at start: every lease,
//     reservation and quarantine record. It sizes the pool first
//     (pool.Pool.Grow) and, when the store is a store.LeaseGrouper, hands
//     the pool each device's leases at once (pool.Pool.HoldDevice), which
//     is what lets a home agent load a million devices in a couple of
//     seconds. Records the pool refuses (typically leases outside every
//     prefix after a configuration change) are collected into one
//     *LoadError.
//
// The store is the truth and the pool's state is a cache of it: every
// change committed here is told to the pool after the commit, and a pool
// that refuses a committed record is reported, never overruled.
//
// The functions are safe for concurrent use as far as the pool and the
// store are (both are): AssignVIPs may run concurrently for different
// devices and is idempotent for one.
package lease
