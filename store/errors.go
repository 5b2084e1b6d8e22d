package store

import (
	"errors"
	"fmt"
	"net/netip"
)

// Sentinel errors. Implementations wrap them with what was being done, so
// test them with errors.Is.
var (
	// ErrNotFound: no such device, lease, reservation or token.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a device with that id, name, identity key or WireGuard key
	// exists already, or a token with that hash.
	ErrExists = errors.New("store: already exists")
	// ErrAddrInUse: the address is leased to or reserved for another
	// device. The error is a *ConflictError carrying the holder.
	ErrAddrInUse = errors.New("store: address in use")
	// ErrHasLease: the device already holds a different address of the
	// same family; release it first (or reserve, which moves it).
	ErrHasLease = errors.New("store: device already holds an address of that family")
	// ErrRevoked: the device is revoked and gets no new leases or
	// enrolments.
	ErrRevoked = errors.New("store: device revoked")
	// ErrTokenInvalid: the token is unknown, expired or used already. The
	// wrapped message says which; callers facing the network should not
	// tell the peer.
	ErrTokenInvalid = errors.New("store: enrolment token invalid")
	// ErrInvalid: a record or argument is malformed (empty id, key of
	// the wrong length, invalid address); nothing was changed.
	ErrInvalid = errors.New("store: invalid record")
	// ErrCorrupt: a file or record is not a homeip store or is damaged.
	// Opening such a file fails and changes nothing.
	ErrCorrupt = errors.New("store: corrupt or foreign data")
	// ErrSchema: the file was written by a newer schema version than
	// this program understands.
	ErrSchema = errors.New("store: unsupported schema version")
)

// ConflictError is returned when an address is held by, or reserved for,
// another device. It unwraps to ErrAddrInUse.
type ConflictError struct {
	Addr     netip.Addr
	Holder   string // the device that holds or reserves Addr
	Reserved bool   // Addr is reserved for Holder (rather than leased)
}

func (e *ConflictError) Error() string {
	what := "leased to"
	if e.Reserved {
		what = "reserved for"
	}
	return fmt.Sprintf("store: address %v is %s device %q", e.Addr, what, e.Holder)
}

// Unwrap makes errors.Is(err, ErrAddrInUse) true.
func (e *ConflictError) Unwrap() error { return ErrAddrInUse }
