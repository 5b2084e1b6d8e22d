package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/homeip/homeip/homeagent/config"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/bboltstore"
)

// check runs `ha check`: it opens the store read-only and runs its
// consistency check (bbolt's page check, then every record and index),
// printing what it found. It exits 0 only when there is no problem, 1 on
// any (damage, a store locked by a running home agent, none there), 2 on
// bad usage.
func check(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("ha check", flag.ContinueOnError)
	fs.SetOutput(errOut)
	dataDir := fs.String("data-dir", defaultDataDir(), "data directory of the home agent")
	file := fs.String("store", "", "store file (default: store.db in the data directory)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(errOut, "ha check: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	path := *file
	if path == "" {
		path = filepath.Join(*dataDir, storeFile)
	}
	st, err := bboltstore.Open(path, bboltstore.Options{ReadOnly: true, LockTimeout: time.Second})
	if err != nil {
		fmt.Fprintf(errOut, "ha check: %v\n", err)
		if !errors.Is(err, store.ErrCorrupt) && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrSchema) {
			fmt.Fprintln(errOut, "ha check: if a home agent is running on this store, stop it first")
		}
		return 1
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Check(ctx); err != nil {
		fmt.Fprintf(errOut, "ha check: %s: %v\n", path, err)
		return 1
	}
	c, err := st.Counts(ctx)
	if err != nil {
		fmt.Fprintf(errOut, "ha check: %s: %v\n", path, err)
		return 1
	}
	fmt.Fprintf(out, "%s: ok (%d devices, %d leases, %d reservations, %d quarantined, %d tokens)\n",
		path, c.Devices, c.Leases, c.Reservations, c.Quarantined, c.Tokens)
	return 0
}

func defaultDataDir() string {
	if v := os.Getenv(config.EnvName("data_dir")); v != "" {
		return v
	}
	return config.DefaultDataDir
}
