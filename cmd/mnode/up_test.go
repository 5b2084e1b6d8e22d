package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestUpRejectsBadFlags checks that bad values are refused before
// anything is touched (the state directory is not even created).
func TestUpRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--stall-floor", "-1s"},
		{"--keepalive-min", "2m", "--keepalive-max", "1m"},
		{"--listen-port", "70000"},
	} {
		dir := filepath.Join(t.TempDir(), "state")
		err := cmdUp(append([]string{"--state-dir", dir}, args...))
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("up %v: %v, want a usage error", args, err)
		}
		if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
			t.Errorf("up %v created the state directory", args)
		}
	}
}
