package store

import (
	"context"
	"net/netip"
	"time"
)

// Store is the durable registry. Implementations must pass
// storetest.Run, are safe for concurrent use, and return errors wrapping
// the sentinels of this package. Every mutating method is one atomic
// transaction: it either happens completely and durably (on return) or not
// at all.
type Store interface {
	// CreateDevice adds a new device. Its id, name, identity key and
	// WireGuard key (the last two when set) must be unique (ErrExists).
	CreateDevice(ctx context.Context, d Device) error
	// Device returns the device with that id (ErrNotFound).
	Device(ctx context.Context, id string) (Device, error)
	// DeviceByName, DeviceByIdentityKey and DeviceByWGKey look a device
	// up by its unique secondary keys (ErrNotFound).
	DeviceByName(ctx context.Context, name string) (Device, error)
	DeviceByIdentityKey(ctx context.Context, key []byte) (Device, error)
	DeviceByWGKey(ctx context.Context, key [32]byte) (Device, error)
	// Devices lists every device ordered by id.
	Devices(ctx context.Context) ([]Device, error)
	// RenameDevice changes a device's name (ErrExists if taken).
	RenameDevice(ctx context.Context, id, name string) error
	// RevokeDevice marks a device revoked at the given time. Its leases
	// are kept (its VIPs stay its own) but it gets no new leases and its
	// tokens can no longer be redeemed. Revoking twice keeps the first
	// time.
	RevokeDevice(ctx context.Context, id string, at time.Time) error
	// DeleteDevice removes a device, its tokens and reservations, and
	// moves its leases to quarantine (returned), all in one transaction.
	DeleteDevice(ctx context.Context, id string, at time.Time) ([]Quarantined, error)

	// AddToken stores an enrolment token for an existing device.
	AddToken(ctx context.Context, t Token) error
	// RedeemToken atomically checks the token with that hash (unknown,
	// used or expired at now: ErrTokenInvalid; device revoked:
	// ErrRevoked), marks it used, records the device's keys (ErrExists
	// if another device has them), removes every other token of the
	// device (an enrolment ends them all) and returns the updated device.
	// A token is redeemed at most once even under concurrent calls.
	RedeemToken(ctx context.Context, hash [32]byte, now time.Time, e Enrolment) (Device, error)
	// Token returns the token with that hash, in a read-only transaction
	// (ErrNotFound): a cheap first look that costs no write, before
	// RedeemToken decides atomically.
	Token(ctx context.Context, hash [32]byte) (Token, error)
	// Tokens lists a device's tokens (hashes only), ordered by creation
	// time (ErrNotFound for an unknown device).
	Tokens(ctx context.Context, deviceID string) ([]Token, error)
	// CancelTokens removes a device's unredeemed tokens and returns how
	// many it removed (ErrNotFound for an unknown device).
	CancelTokens(ctx context.Context, deviceID string) (int, error)

	// CommitLease records one or more leases in one transaction: all of
	// them or none. It fails with a *ConflictError (ErrAddrInUse) when an
	// address is leased to or reserved for another device, with
	// ErrHasLease when a device would hold two addresses of a family, with
	// ErrRevoked or ErrNotFound for the device. Committing a lease the
	// device already holds succeeds and changes nothing, unless the device
	// is revoked: a revoked device is refused every lease, its own too. Quarantine
	// records of the addresses are removed.
	CommitLease(ctx context.Context, ls ...Lease) error
	// ReleaseLease removes a device's lease and records the address as
	// quarantined at the given time.
	ReleaseLease(ctx context.Context, deviceID string, addr netip.Addr, at time.Time) (Quarantined, error)
	// Leases returns a device's leases (none is not an error).
	Leases(ctx context.Context, deviceID string) ([]Lease, error)
	// LeaseByAddr returns the lease of an address (ErrNotFound).
	LeaseByAddr(ctx context.Context, addr netip.Addr) (Lease, error)

	// Reserve pins r.DeviceID to r.Addr. It fails with a *ConflictError
	// when another device holds or reserves the address. It replaces the
	// device's reservation of the same family, and moves its lease of
	// that family to r.Addr (the old address goes to quarantine at
	// r.Created and is returned).
	Reserve(ctx context.Context, r Reservation) ([]Quarantined, error)
	// Unreserve removes a reservation; the lease, if any, stays.
	Unreserve(ctx context.Context, deviceID string, addr netip.Addr) error
	// Reservations returns a device's reservations.
	Reservations(ctx context.Context, deviceID string) ([]Reservation, error)

	// PurgeQuarantine forgets quarantine records released before the
	// given time and returns how many it removed.
	PurgeQuarantine(ctx context.Context, before time.Time) (int, error)

	// Counts returns how many records of each kind the store holds (for
	// metrics, and to size a pool before loading it).
	Counts(ctx context.Context) (Counts, error)

	// Walk calls v for every record, in a consistent snapshot, devices
	// first, then leases, reservations and quarantine records.
	Walk(ctx context.Context, v Visitor) error

	// Close releases the store. It is idempotent; afterwards every method
	// fails with an error satisfying errors.Is(err, net.ErrClosed).
	Close() error
}

// LeaseGrouper is an optional extension of Store for a fast start-up:
// stores that can list leases grouped by device cheaply (bboltstore reads
// its device-ordered address index) implement it, and the pool loader
// (lease.LoadPool) uses it when present.
type LeaseGrouper interface {
	// WalkGrouped is Walk, except that leases go to leases instead of
	// v.Lease (ignored): one call per device holding leases, devices in
	// id order, with all its leased addresses (in no particular order;
	// the slice is only valid during the call). Like Walk it visits one
	// consistent snapshot: devices, then leases, reservations and
	// quarantine records.
	WalkGrouped(ctx context.Context, leases func(deviceID string, addrs []netip.Addr) error, v Visitor) error
}
