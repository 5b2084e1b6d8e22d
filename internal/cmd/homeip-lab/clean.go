package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/homeip/homeip/internal/netlab"
)

var cleanCmd = command{
	summary: "remove labs left behind by killed runs (namespaces starting with -prefix)",
	run:     runClean,
}

func runClean(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prefix := fs.String("prefix", "hip", "namespace name prefix (must start with hip)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	removed, err := netlab.CleanAll(ctx, *prefix)
	for _, ns := range removed {
		fmt.Fprintln(stdout, "removed", ns)
	}
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab clean:", err)
		return exitFailed
	}
	return exitOK
}
