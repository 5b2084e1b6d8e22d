// Package labtest gives tests a netlab.Lab: it builds one, removes it when
// the test ends, and skips the test where a lab cannot be built (or fails
// it when HOMEIP_REQUIRE_LAB=1).
package labtest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/netlab"
)

// RequireEnv is the environment variable that turns "cannot build a lab
// here" from a skip into a failure.
const RequireEnv = "HOMEIP_REQUIRE_LAB"

// Require skips the test (or fails it when HOMEIP_REQUIRE_LAB=1) unless
// this machine can build namespaces with NAT (netlab.Check). Tests that
// then build their own namespaces should name them netlab.NewPrefix() +
// "-role" and call netlab.RegisterOwner with that prefix, so that a
// concurrent `homeip-lab clean` leaves them alone while they run and
// removes them if the test is killed.
func Require(t testing.TB) {
	t.Helper()
	if err := netlab.Check(); err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("lab required (%s=1) but unavailable: %v", RequireEnv, err)
		}
		t.Skipf("lab unavailable: %v", err)
	}
}

// ProfileEnv is the environment variable that names the netlab.Profile
// New builds its labs with ("ideal" when unset), so that a whole test
// suite can run on field conditions: HOMEIP_LAB_PROFILE=field.
const ProfileEnv = "HOMEIP_LAB_PROFILE"

// New builds a lab for the test and closes it in t.Cleanup, so it goes
// away on success, failure and panic alike. Lab messages go to the test
// log. The lab's Network is the profile named by HOMEIP_LAB_PROFILE
// (ideal when unset); an unknown name fails the test.
func New(t testing.TB) *netlab.Lab {
	t.Helper()
	var opt netlab.Options
	if name := os.Getenv(ProfileEnv); name != "" {
		n, err := netlab.Profile(name)
		if err != nil {
			t.Fatalf("%s: %v", ProfileEnv, err)
		}
		opt.Network = n
	}
	return NewWith(t, opt)
}

// NewWith is New with explicit options (Options.Logger, when nil, is set
// to the test log; HOMEIP_LAB_PROFILE is ignored).
func NewWith(t testing.TB, opt netlab.Options) *netlab.Lab {
	t.Helper()
	Require(t)
	if err := netlab.CheckNetwork(opt.Network); err != nil {
		if errors.Is(err, netlab.ErrBadNetwork) || os.Getenv(RequireEnv) == "1" {
			t.Fatalf("lab with network %+v: %v", opt.Network, err)
		}
		t.Skipf("lab with network %+v unavailable: %v", opt.Network, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	l, err := netlab.New(ctx, opt)
	if err != nil {
		t.Fatalf("building lab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("closing lab %s: %v", l.Prefix, err)
		}
	})
	return l
}

// tWriter sends log lines to t.Log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(trimNL(b)))
	return len(b), nil
}

func trimNL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}
