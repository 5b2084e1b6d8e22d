package mobile

import (
	"context"
	"time"

	"github.com/homeip/homeip/client"
)

// Enroll redeems an enrolment token (the text `ha device add` printed, or
// its QR code) into stateDir, an app-private directory that will hold
// the device's keys. It then fetches the tunnel configuration so that
// TunnelSettings answers at once; if only that second step fails, the
// device stays enrolled, Enroll returns nil, and TunnelSettings fetches
// it later. It blocks for the network exchange (at most 10 s per home
// agent address): call it off the main thread.
//
// Errors carry CodeInvalid (malformed token), CodeAlreadyEnrolled,
// CodeBadToken, CodeFingerprint, CodeUnreachable or CodeInternal.
func Enroll(token, stateDir string) error {
	return EnrollAs(token, stateDir, "")
}

// EnrollAs is Enroll with the device name reported to the home agent
// (informational, e.g. the phone's model); "" reports the OS host name.
func EnrollAs(token, stateDir, hostname string) error {
	dir, err := client.OpenStateDir(stateDir)
	if err != nil {
		return classify(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := client.Enroll(ctx, dir, token, client.EnrollOptions{Hostname: hostname}); err != nil {
		return classify(err)
	}
	// Best effort: TunnelSettings retries when this fails.
	_, _ = client.FetchConfig(ctx, dir, client.EnrollOptions{Timeout: fetchTimeout})
	return nil
}
