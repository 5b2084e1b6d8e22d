package mobile

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/client"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{client.ErrNotEnrolled, CodeNotEnrolled},
		{fmt.Errorf("x: %w", client.ErrAlreadyEnrolled), CodeAlreadyEnrolled},
		{fmt.Errorf("%w: enrolment: %w", client.ErrRejected, binding.ErrBadToken), CodeBadToken},
		{fmt.Errorf("%w: a: %w", client.ErrRevoked, client.ErrRejected), CodeRevoked},
		{fmt.Errorf("%w: b", client.ErrRejected), CodeRejected},
		{fmt.Errorf("%w: c", client.ErrUnreachable), CodeUnreachable},
		{fmt.Errorf("%w: d", client.ErrFingerprintMismatch), CodeFingerprint},
		{fmt.Errorf("bad token: %w", client.ErrInvalid), CodeInvalid},
		{fmt.Errorf("%w: /x", client.ErrStateBusy), CodeBusy},
		{errors.New("disk full"), CodeInternal},
		{coded(CodeTunnel, errors.New("no TUN")), CodeTunnel},
	} {
		got := classify(tc.err)
		if ErrorCode(got) != tc.code {
			t.Errorf("classify(%v) has code %q, want %q", tc.err, ErrorCode(got), tc.code)
		}
		if !strings.HasPrefix(got.Error(), "mobile: "+tc.code+": ") {
			t.Errorf("message %q does not start with the code", got)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("classify(%v) does not wrap it", tc.err)
		}
	}
	if classify(nil) != nil || ErrorCode(nil) != "" || ErrorCode(errors.New("x")) != "" {
		t.Error("nil and foreign errors")
	}
}
