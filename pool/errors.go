package pool

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Sentinel errors, wrapped with details; test with errors.Is.
var (
	// ErrExhausted: no free (nor quarantined) address left in a family.
	ErrExhausted = errors.New("pool: exhausted")
	// ErrNoFamily: the pool has no prefix of the requested family.
	ErrNoFamily = errors.New("pool: family not configured")
	// ErrOutside: the address lies outside every prefix of the pool.
	ErrOutside = errors.New("pool: address outside every prefix")
	// ErrUnusable: the address is a network or broadcast address or is
	// excluded.
	ErrUnusable = errors.New("pool: address not usable")
	// ErrInUse: the address is held by or reserved for another device;
	// the error is a *ConflictError.
	ErrInUse = errors.New("pool: address in use")
	// ErrConfig: the configuration is invalid.
	ErrConfig = errors.New("pool: invalid configuration")
	// ErrLeasesAffected: a configuration change would strand live leases
	// or reservations; the error is a *ChangeError.
	ErrLeasesAffected = errors.New("pool: configuration change affects live leases")
	// ErrInvalidID: the device identity is empty.
	ErrInvalidID = errors.New("pool: empty device identity")
)

// ConflictError says who holds an address another device asked for.
type ConflictError struct {
	Addr     netip.Addr
	Holder   string
	Reserved bool // reserved for Holder rather than held
}

func (e *ConflictError) Error() string {
	what := "held by"
	if e.Reserved {
		what = "reserved for"
	}
	return fmt.Sprintf("pool: address %v is %s device %q", e.Addr, what, e.Holder)
}

// Unwrap makes errors.Is(err, ErrInUse) true.
func (e *ConflictError) Unwrap() error { return ErrInUse }

// Affected is one lease or reservation a configuration change would strand.
type Affected struct {
	DeviceID string
	Addr     netip.Addr
	Reserved bool
}

// ChangeError refuses a configuration change and lists every lease and
// reservation it would strand, sorted by address.
type ChangeError struct {
	Affected []Affected
}

func (e *ChangeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pool: configuration change refused: %d live addresses would fall outside the pool:", len(e.Affected))
	for i, a := range e.Affected {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(e.Affected)-i)
			break
		}
		fmt.Fprintf(&b, " %v (%s)", a.Addr, a.DeviceID)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrLeasesAffected) true.
func (e *ChangeError) Unwrap() error { return ErrLeasesAffected }
