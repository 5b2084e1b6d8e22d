// Package bboltstore is the embedded store.Store: one bbolt file.
//
// Every mutating call is one bbolt read-write transaction, fsynced before
// it returns (bbolt's NoSync is never set). Calls that many clients make
// at once (creating devices, redeeming tokens, committing and releasing
// leases) go through bbolt's Batch, so concurrent callers share one
// transaction and one fsync (group commit). Batch may run a function more
// than once, so every function here recomputes its result from the
// transaction and reports logical refusals (conflicts, not found) through
// a variable instead of failing the shared transaction.
//
// # File layout
//
// Buckets: meta (magic, schema version), devices (id → record), idx_name,
// idx_ikey, idx_wgkey (secondary key → id), leases, reservations,
// quarantine (address bytes, 4 or 16 → record), dev_addr (id NUL kind
// address → empty: a device's leases and reservations), tokens (SHA-256 →
// record) and dev_tokens (id NUL hash → empty). Records start with a
// version byte and use length-prefixed fields (codec.go); decoding is
// strict and fuzzed.
//
// # Loading
//
// WalkGrouped (store.LeaseGrouper) lists leases from the dev_addr index,
// which is in device order: a home agent's start (lease.LoadPool and its
// device index) decodes no lease record and looks each device up once.
// The index is written in the same transactions as the lease records, and
// Check verifies that the two agree.
//
// # Opening
//
// Open refuses, without writing anything, a file that is not a bbolt
// database, a bbolt database that is not a homeip store, and a store of a
// newer schema (store.ErrCorrupt, store.ErrSchema). An older schema is
// migrated in one transaction by the registered migrations, one version
// step at a time. A store at the current schema is only read at open: no
// commit, no fsync.
package bboltstore
