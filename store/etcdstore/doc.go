// Package etcdstore is a store.Store on an etcd v3 cluster, so that
// several home agents can share one registry: whichever home agent
// proposes an address or redeems a token, etcd decides once.
//
// # Key layout
//
// Every key starts with the store's prefix (Config.Prefix, "/" added if
// missing), so several stores (several deployments, or the tests) share
// one cluster without seeing each other. Below the prefix P:
//
//	P/meta/schema              decimal schema version ("1")
//	P/dev/<id>                 device record
//	P/name/<name>              device id (unique name index)
//	P/ikey/<hex identity key>  device id (unique identity-key index)
//	P/wgkey/<hex WG key>       device id (unique WireGuard-key index)
//	P/lease/<addr>             lease record (holder, created)
//	P/resv/<addr>              reservation record (holder, created)
//	P/quar/<addr>              quarantine record (previous holder, released)
//	P/devaddr/<id> NUL L <addr>  empty: a lease of the device
//	P/devaddr/<id> NUL R <addr>  empty: a reservation of the device
//	P/tok/<hex SHA-256>        token record
//	P/devtok/<id> NUL <hex SHA-256>  empty: a token of the device
//
// Addresses are written in their canonical text form (netip.Addr.String,
// so `etcdctl get --prefix P/lease/` is readable); ids and names as they
// are (they hold no NUL). Because NUL sorts first, the devaddr index
// lists each device's keys together, in device id order: WalkGrouped
// (store.LeaseGrouper) reads it instead of the lease records.
//
// Values are small JSON documents with a version field ("v": 1), decoded
// strictly (unknown fields, a newer version or an invalid record are
// store.ErrCorrupt).
//
// # Transactions
//
// Every mutating method is one etcd transaction built optimistically: the
// method reads what it depends on (remembering each key's modification
// revision, 0 for an absent key), decides, and commits its writes in a
// transaction whose If compares every key it read with the revision it
// saw, and the schema key with the version this package writes. When a
// compare fails (another home agent wrote one of those keys meanwhile)
// the Else branch returns the current values of the compared keys and the
// method decides again from them, up to Config.MaxRetries times, with a
// short randomised pause. So a lease commit depends on the address's
// lease and reservation keys, a device creation on its name, identity-key
// and WireGuard-key index keys, a redemption on the token key: two home
// agents can never both lease one address or redeem one token.
//
// Every write that changes a device's dependents (its devaddr or devtok
// index entries: leases, reservations, tokens) also rewrites the device
// record, which bumps its revision. Since every such method compares the
// device key too, all changes of one device are serialised, and range
// reads of a device's index entries need no compare of their own.
//
// Logical refusals (store.ErrExists, a *store.ConflictError, ...) are
// decided from reads that etcd served linearizably and are returned
// without writing. PurgeQuarantine is the one method that is not a single
// transaction: it removes old records in transactions of at most 64, each
// record only if it did not change since it was read.
//
// A transaction holds at most the server's --max-txn-ops operations (128
// by default); a device with more than about a hundred pending tokens
// cannot be deleted or enrolled in one transaction, and such a call fails
// with etcd's error instead of doing half of it.
//
// A commit that fails in transit (a timeout, a member lost) is reported
// as an error, although etcd may have applied it: the calls are
// idempotent for their caller (committing a lease a device already holds
// changes nothing), so retrying is safe.
//
// Reads that must agree (Walk, WalkGrouped, Devices, Check, a device's
// leases) are range reads at one revision, a page of 10,000 keys at a time.
// The cluster must compact its history (etcd's --auto-compaction-mode
// and --auto-compaction-retention); a walk that outlives the retention
// fails with etcd's "required revision has been compacted".
//
// # Opening
//
// Open connects, then reads the schema key: a prefix with no keys at all
// is initialised (schema key created only if still absent), a prefix of
// the current schema is used as is, a newer one is refused with
// store.ErrSchema, and keys under the prefix without a schema key, or an
// unreadable schema, with store.ErrCorrupt. Check verifies the whole
// store at one revision.
package etcdstore
