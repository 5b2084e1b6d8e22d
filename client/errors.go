package client

import "errors"

// Sentinel errors, for errors.Is.
var (
	// ErrInvalid reports bad input: a malformed flag, preference or state file.
	ErrInvalid = errors.New("client: invalid argument")
	// ErrNotEnrolled is returned when the state directory holds no enrolment.
	ErrNotEnrolled = errors.New("client: device not enrolled (run mnode enroll TOKEN first)")
	// ErrAlreadyEnrolled is returned by Enroll when the state directory
	// already holds an enrolment.
	ErrAlreadyEnrolled = errors.New("client: state directory already holds an enrolled device")
	// ErrFingerprintMismatch is returned when the home agent's certificate
	// does not match the pinned fingerprint.
	ErrFingerprintMismatch = errors.New("client: home agent certificate does not match the pinned fingerprint")
	// ErrUnreachable is returned when no home agent address answered.
	ErrUnreachable = errors.New("client: home agent unreachable")
	// ErrRejected is returned when the home agent refused a request; the
	// wrapping error carries the status.
	ErrRejected = errors.New("client: refused by the home agent")
	// ErrStateBusy is returned by StateDir.Lock when another node holds
	// the state directory.
	ErrStateBusy = errors.New("client: state directory in use by another mnode")
	// ErrNotRunning is returned by the control-socket client when no node
	// answers on the socket.
	ErrNotRunning = errors.New("client: mnode is not running")
)
