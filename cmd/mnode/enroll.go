package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/client"
)

func cmdEnroll(args []string) error {
	fset := flag.NewFlagSet("mnode enroll", flag.ContinueOnError)
	stateDir := fset.String("state-dir", defaultStateDir, "state directory to create (mode 0700)")
	hostname := fset.String("hostname", "", "name to report to the home agent (default: this host's name)")
	timeout := fset.Duration("timeout", 10*time.Second, "how long to try each home agent address")
	logLevel := fset.String("log-level", "warn", "log level: debug, info, warn, error")
	pos, err := parseArgs(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"enroll: want exactly one TOKEN argument"}
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	if _, err := binding.ParseToken(pos[0]); err != nil {
		return fmt.Errorf("bad token: %s", strings.ReplaceAll(err.Error(), "binding: ", ""))
	}
	dir, err := client.OpenStateDir(*stateDir)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	st, err := client.Enroll(ctx, dir, pos[0], client.EnrollOptions{Hostname: *hostname, Timeout: *timeout, Logger: log})
	switch {
	case err == nil:
	case errors.Is(err, binding.ErrBadToken):
		return fmt.Errorf("the home agent refused the token: unknown, expired or already used")
	case errors.Is(err, client.ErrFingerprintMismatch):
		return fmt.Errorf("home agent certificate does not match the fingerprint in the token (wrong address, or someone in the middle): %w", err)
	case errors.Is(err, client.ErrUnreachable):
		return fmt.Errorf("home agent unreachable: %w", err)
	default:
		return err
	}
	fmt.Fprintf(os.Stdout, "enrolled as %q (id %s) with home agent %v, fingerprint %s\nstate in %s; run: mnode up --state-dir %s\n",
		st.DeviceName, st.DeviceID, st.HomeAgent.Addrs, st.HomeAgent.Fingerprint, dir.Path(), dir.Path())
	return nil
}
