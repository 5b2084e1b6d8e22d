package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

func TestParseArgsInterleaved(t *testing.T) {
	fset := flag.NewFlagSet("x", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	dir := fset.String("state-dir", "", "")
	j := fset.Bool("json", false, "")
	pos, err := parseArgs(fset, []string{"TOKEN", "--state-dir", "/d", "--json"})
	if err != nil || len(pos) != 1 || pos[0] != "TOKEN" || *dir != "/d" || !*j {
		t.Errorf("got %v %v %q %v", pos, err, *dir, *j)
	}
	if _, err := parseArgs(fset, []string{"--nope"}); err == nil {
		t.Error("unknown flag accepted")
	}
}

func TestExplainTUNError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("open /dev/net/tun: %w", fs.ErrNotExist), "no TUN device"},
		{fmt.Errorf("ioctl: %w", syscall.EPERM), "permission denied"},
		{fmt.Errorf("ioctl: %w", syscall.EBUSY), "in use"},
	} {
		got := explainTUNError("homeip0", tc.err)
		if !strings.Contains(got.Error(), tc.want) || !errors.Is(got, tc.err) {
			t.Errorf("%v -> %v, want %q", tc.err, got, tc.want)
		}
	}
}
