package binding

import (
	"errors"
	"strconv"
)

// Status is the result code carried by every acknowledgement (RegisterAck,
// BindingAck, EnrollAck) and by Deregister. As in RFC 6275 §6.1.8, values
// below 128 mean success and values from 128 up mean rejection. Values this
// version does not know are carried unchanged and are rejections if ≥ 128.
type Status uint8

// Status codes. Success codes are below 128.
const (
	// StatusAccepted: the request was applied as asked.
	StatusAccepted Status = 0
	// StatusLifetimeShortened: applied, but the home agent granted a shorter
	// lifetime than requested (the ack carries the granted one).
	StatusLifetimeShortened Status = 1

	// StatusMalformed: the message broke a rule of this package's spec.
	StatusMalformed Status = 128
	// StatusStaleSequence: the sequence number is not newer than the cached
	// one (RFC 6275 §9.5.1); the ack carries the current number.
	StatusStaleSequence Status = 129
	// StatusUnknownDevice: the home agent has no such device.
	StatusUnknownDevice Status = 130
	// StatusRevoked: the device was revoked by an administrator.
	StatusRevoked Status = 131
	// StatusTooManyCareOf: the update would leave more care-of entries than
	// the home agent allows per device.
	StatusTooManyCareOf Status = 132
	// StatusRateLimited: the device sent updates faster than allowed.
	StatusRateLimited Status = 133
	// StatusUnauthorized: the TLS identity does not match the request
	// (wrong device key, or a key that is not enrolled).
	StatusUnauthorized Status = 134
	// StatusBadToken: the enrolment token is unknown, expired or used.
	StatusBadToken Status = 135
	// StatusNoAddress: no virtual address could be leased (pool exhausted).
	StatusNoAddress Status = 136
	// StatusUnavailable: the home agent is draining or overloaded; try
	// another home agent or later.
	StatusUnavailable Status = 137
	// StatusNotRegistered: a binding update or heartbeat arrived before a
	// successful Register on this connection.
	StatusNotRegistered Status = 138
	// StatusInternal: the home agent failed to process a valid request.
	StatusInternal Status = 139
)

var statusNames = map[Status]string{
	StatusAccepted:          "accepted",
	StatusLifetimeShortened: "lifetime shortened",
	StatusMalformed:         "malformed",
	StatusStaleSequence:     "stale sequence",
	StatusUnknownDevice:     "unknown device",
	StatusRevoked:           "revoked",
	StatusTooManyCareOf:     "too many care-of entries",
	StatusRateLimited:       "rate limited",
	StatusUnauthorized:      "unauthorized",
	StatusBadToken:          "bad token",
	StatusNoAddress:         "no address available",
	StatusUnavailable:       "unavailable",
	StatusNotRegistered:     "not registered",
	StatusInternal:          "internal error",
}

// OK reports whether s is a success code (below 128).
func (s Status) OK() bool { return s < 128 }

// String returns the status name, or "status(N)" for codes this version
// does not know.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Error is a rejection: a request answered with a non-success Status. It is
// what Cache.Apply returns next to the ack it built, and what the client
// side turns a rejecting ack into (Status.Err). Match it with errors.As, or
// with errors.Is against the Err* sentinels below, which compare by status.
type Error struct {
	// Status is the rejection code.
	Status Status
	// Sequence is, for StatusStaleSequence, the sequence number the home
	// agent holds; zero otherwise.
	Sequence uint16
	// Reason is an optional human-readable detail.
	Reason string
}

// Error implements error.
func (e *Error) Error() string {
	s := "binding: " + e.Status.String()
	if e.Status == StatusStaleSequence {
		s += " (current " + strconv.Itoa(int(e.Sequence)) + ")"
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Is reports whether target is an *Error with the same Status, so that
// errors.Is(err, binding.ErrRateLimited) works whatever the detail.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Status == e.Status
}

// Err returns nil for a success code and an *Error carrying s otherwise.
func (s Status) Err(reason string) error {
	if s.OK() {
		return nil
	}
	return &Error{Status: s, Reason: reason}
}

// Sentinels for errors.Is, one per rejection status.
var (
	ErrMalformedRequest = &Error{Status: StatusMalformed}
	ErrStaleSequence    = &Error{Status: StatusStaleSequence}
	ErrUnknownDevice    = &Error{Status: StatusUnknownDevice}
	ErrRevoked          = &Error{Status: StatusRevoked}
	ErrTooManyCareOf    = &Error{Status: StatusTooManyCareOf}
	ErrRateLimited      = &Error{Status: StatusRateLimited}
	ErrUnauthorized     = &Error{Status: StatusUnauthorized}
	ErrBadToken         = &Error{Status: StatusBadToken}
	ErrNoAddress        = &Error{Status: StatusNoAddress}
	ErrUnavailable      = &Error{Status: StatusUnavailable}
	ErrNotRegistered    = &Error{Status: StatusNotRegistered}
	ErrInternal         = &Error{Status: StatusInternal}
)

// Err returns nil if the ack reports success, and otherwise an *Error
// carrying its status and, for a stale sequence, the home agent's current
// sequence number (continue from Sequence+1).
func (m *BindingAck) Err() error {
	if m.Status.OK() {
		return nil
	}
	e := &Error{Status: m.Status}
	if m.Status == StatusStaleSequence {
		e.Sequence = m.Sequence
	}
	return e
}

// Err returns nil if the ack reports success and an *Error otherwise.
func (m *RegisterAck) Err() error { return m.Status.Err("register") }

// Err returns nil if the ack reports success and an *Error otherwise.
func (m *EnrollAck) Err() error { return m.Status.Err("enroll") }

// Err returns nil for an orderly goodbye and an *Error carrying the
// reason otherwise.
func (m *Deregister) Err() error { return m.Status.Err(m.Reason) }
