// Package store holds homeip's durable truth: devices, their keys and
// state, address leases, reservations, quarantined addresses and one-time
// enrolment tokens. It enforces that no address is leased twice when a
// lease is committed: the pool proposes, the store decides.
//
// # Model
//
//   - A [Device] is created by an admin (id, name), enrolled once with a
//     one-time [Token] (which records its ed25519 identity key and its
//     WireGuard key), can be renamed, revoked (kept, but refused service) or
//     deleted.
//   - A [Lease] binds one address to one device, at most one per address
//     family per device. It is hard state: it lives until the device is
//     deleted or an admin moves it, so a device gets the same VIPs across
//     reconnects, restarts and re-enrolment (a new token for an existing
//     device keeps the device record and therefore its leases).
//   - A [Reservation] pins a device to an address chosen by an admin.
//   - A [Quarantined] record remembers a released address and its previous
//     holder, so that the pool can keep it away from others for a while
//     and give it back to the same device if it returns.
//   - Tokens are stored as SHA-256 hashes of their secret, with an expiry,
//     and are redeemed at most once ([Store.RedeemToken] is atomic).
//
// # Committing leases
//
// [Store.CommitLease] is a transaction (or, in a distributed
// implementation, a compare-and-swap) that refuses an address held or
// reserved by another device with a [*ConflictError]
// (errors.Is(err, [ErrAddrInUse])). The store keeps records and enforces
// their uniqueness; it does not decide which address a device should get.
// That is policy, above the store: package homeagent/lease asks the pool
// for a proposal, commits it here, and on a conflict tells the pool about
// the holder and asks again. This package imports no other homeip
// package.
//
// A store that can list leases grouped by device cheaply implements the
// optional [LeaseGrouper]; loading a pool at start (lease.LoadPool) then
// hands the pool each device's addresses at once, which is what lets a
// home agent load a million devices in a couple of seconds. Without it
// the loader walks lease records one by one, with the same result.
//
// Quarantine records are kept until PurgeQuarantine removes them; the home
// agent calls it now and then with now minus the pool's quarantine, since
// the pool ignores records older than that anyway.
//
// # Implementations
//
// store/bboltstore is the embedded default (one bbolt file). Every
// implementation must pass the behavioural suite in store/storetest
// (storetest.Run), which is how a later etcd implementation proves it
// behaves the same. The interface is shaped for that: every mutation is
// one atomic step keyed by device id and address (an etcd transaction
// comparing the address key's revision, or a bbolt transaction), lookups
// by secondary key are exact-match indexes, and Walk is a consistent
// snapshot (bbolt read transaction; etcd range reads at one revision).
//
// Implementations are safe for concurrent use. After Close every method
// returns an error satisfying errors.Is(err, net.ErrClosed).
package store
