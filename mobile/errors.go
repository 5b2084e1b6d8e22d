package mobile

import (
	"errors"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/client"
)

// Error codes. Every error this package returns reads
// "mobile: CODE: detail", so that an app, which receives a Go error as an
// exception carrying only its message (gobind), can tell the cases apart
// with ErrorCode or by the text between the first two colons.
const (
	// CodeInvalid: a malformed argument (token, kind, address, fd).
	CodeInvalid = "invalid"
	// CodeNotEnrolled: the state directory holds no enrolment.
	CodeNotEnrolled = "not_enrolled"
	// CodeAlreadyEnrolled: the state directory already holds one.
	CodeAlreadyEnrolled = "already_enrolled"
	// CodeBadToken: the home agent refused the token (unknown, expired or
	// already used).
	CodeBadToken = "bad_token"
	// CodeFingerprint: the home agent's certificate does not match the
	// fingerprint pinned at enrolment (wrong address, or an attacker).
	CodeFingerprint = "fingerprint_mismatch"
	// CodeUnreachable: no home agent address answered.
	CodeUnreachable = "unreachable"
	// CodeRevoked: the administrator revoked this device.
	CodeRevoked = "revoked"
	// CodeRejected: the home agent refused for another reason.
	CodeRejected = "rejected"
	// CodeBusy: a node is already running on this state directory.
	CodeBusy = "busy"
	// CodeTunnel: the data plane could not start on the TUN descriptor.
	CodeTunnel = "tunnel"
	// CodeStopped: the node has stopped.
	CodeStopped = "stopped"
	// CodeInternal: anything else (I/O errors of the state directory).
	CodeInternal = "internal"
)

// codedError is an error with one of the codes above. It unwraps to the
// cause, so Go callers can still use errors.Is with client's sentinels.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return "mobile: " + e.code + ": " + e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// coded wraps err with code.
func coded(code string, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

// classify wraps an error of package client with the matching code.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return err
	}
	code := CodeInternal
	switch {
	case errors.Is(err, client.ErrNotEnrolled):
		code = CodeNotEnrolled
	case errors.Is(err, client.ErrAlreadyEnrolled):
		code = CodeAlreadyEnrolled
	case errors.Is(err, binding.ErrBadToken):
		code = CodeBadToken
	case errors.Is(err, client.ErrFingerprintMismatch):
		code = CodeFingerprint
	case errors.Is(err, client.ErrRevoked):
		code = CodeRevoked
	case errors.Is(err, client.ErrUnreachable):
		code = CodeUnreachable
	case errors.Is(err, client.ErrRejected):
		code = CodeRejected
	case errors.Is(err, client.ErrInvalid):
		code = CodeInvalid
	case errors.Is(err, client.ErrStateBusy):
		code = CodeBusy
	}
	return &codedError{code: code, err: err}
}

// ErrorCode returns the code of an error returned by this package (one of
// the Code constants), or "" for nil and for errors from elsewhere.
func ErrorCode(err error) string {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	return ""
}
