package store

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on record fields, checked by every implementation.
const (
	MaxIDLen   = 128 // bytes of a device id
	MaxNameLen = 253 // bytes of a device name (a DNS name fits)
)

// Device is one enrolled (or to be enrolled) device.
type Device struct {
	ID   string // stable, unique, chosen by the home agent; never reused
	Name string // unique human name, may change (RenameDevice)

	// IdentityKey is the device's ed25519 public key, the identity it
	// proves in its TLS client certificate. Empty until enrolled.
	IdentityKey []byte
	// WGKey is the device's WireGuard public key. Zero until enrolled.
	WGKey [32]byte

	Created  time.Time
	Enrolled time.Time // zero: not enrolled yet
	Revoked  time.Time // zero: active
}

// Active reports whether the device is not revoked.
func (d Device) Active() bool { return d.Revoked.IsZero() }

// IsEnrolled reports whether the device has redeemed a token.
func (d Device) IsEnrolled() bool { return !d.Enrolled.IsZero() }

// Equal reports whether two devices are identical (times compared with
// Equal, so monotonic readings and locations do not matter).
func (d Device) Equal(o Device) bool {
	return d.ID == o.ID && d.Name == o.Name && bytes.Equal(d.IdentityKey, o.IdentityKey) &&
		d.WGKey == o.WGKey && d.Created.Equal(o.Created) && d.Enrolled.Equal(o.Enrolled) &&
		d.Revoked.Equal(o.Revoked)
}

// Validate checks the fields an implementation must refuse.
func (d Device) Validate() error {
	if err := ValidateID(d.ID); err != nil {
		return err
	}
	if d.Name == "" || len(d.Name) > MaxNameLen || !utf8.ValidString(d.Name) {
		return fmt.Errorf("%w: device %q: name must be 1..%d bytes of UTF-8", ErrInvalid, d.ID, MaxNameLen)
	}
	if len(d.IdentityKey) != 0 && len(d.IdentityKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: device %q: identity key is %d bytes, want %d", ErrInvalid, d.ID, len(d.IdentityKey), ed25519.PublicKeySize)
	}
	return nil
}

// ValidateID checks a device id: 1..MaxIDLen bytes of UTF-8 without NUL.
func ValidateID(id string) error {
	if id == "" || len(id) > MaxIDLen || !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
		return fmt.Errorf("%w: device id %q: must be 1..%d bytes of UTF-8 without NUL", ErrInvalid, id, MaxIDLen)
	}
	return nil
}

// Family of an address: 4 or 6. A device holds at most one lease and one
// reservation per family.
func Family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// ValidAddr checks that a is usable as a lease or reservation: valid, no
// zone, not an IPv4-mapped IPv6 address.
func ValidAddr(a netip.Addr) error {
	if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
		return fmt.Errorf("%w: address %v: want a plain IPv4 or IPv6 address", ErrInvalid, a)
	}
	return nil
}

// Lease binds one address to one device. A device holds at most one lease
// per family.
type Lease struct {
	DeviceID string
	Addr     netip.Addr
	Created  time.Time
}

// Reservation pins a device to an address chosen by an admin; at most one
// per family per device.
type Reservation struct {
	DeviceID string
	Addr     netip.Addr
	Created  time.Time
}

// Quarantined remembers an address released by a device (deleted, or moved
// by a reservation) and when. The pool decides how long it stays away from
// other devices.
type Quarantined struct {
	DeviceID string // the previous holder
	Addr     netip.Addr
	Released time.Time
}

// Token is a one-time enrolment token as stored: only the SHA-256 hash of
// its secret is kept.
type Token struct {
	Hash     [32]byte // HashToken(secret)
	DeviceID string
	Created  time.Time
	Expires  time.Time
	Used     time.Time // zero: not redeemed yet
}

// Enrolment is what a device registers when it redeems a token.
type Enrolment struct {
	IdentityKey []byte   // ed25519 public key
	WGKey       [32]byte // WireGuard public key
}

// Validate checks the key sizes.
func (e Enrolment) Validate() error {
	if len(e.IdentityKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: identity key is %d bytes, want %d", ErrInvalid, len(e.IdentityKey), ed25519.PublicKeySize)
	}
	if e.WGKey == ([32]byte{}) {
		return fmt.Errorf("%w: WireGuard key is zero", ErrInvalid)
	}
	return nil
}

// Visitor receives every record of a store in Walk. A nil function skips
// that kind of record. Returning an error stops the walk and Walk returns
// it. The functions must not call back into the store.
type Visitor struct {
	Device      func(Device) error
	Lease       func(Lease) error
	Reservation func(Reservation) error
	Quarantined func(Quarantined) error
}

// Counts sizes a store: how many records of each kind it holds.
type Counts struct {
	Devices      int
	Leases       int
	Reservations int
	Quarantined  int
	Tokens       int
}
