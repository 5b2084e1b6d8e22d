package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
)

// TestSignalTearsDownLab runs the real binary's `lab up`, interrupts it
// with SIGINT and SIGTERM, and checks its namespaces are gone.
func TestSignalTearsDownLab(t *testing.T) {
	t.Parallel()
	labtest.Require(t)
	bin := filepath.Join(t.TempDir(), "homeip-lab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building homeip-lab: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			prefix := netlab.NewPrefix()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "lab", "up", "-prefix", prefix)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_, _ = netlab.CleanAll(context.Background(), prefix)
			})
			sc := bufio.NewScanner(out)
			up := false
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "press Ctrl-C") {
					up = true
					break
				}
			}
			if !up {
				t.Fatal("lab up never came up")
			}
			if m, _ := filepath.Glob("/run/netns/" + prefix + "-*"); len(m) != 6 {
				t.Fatalf("lab up made %v, want 6 namespaces", m)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("lab up exited with %v after %v", err, sig)
			}
			if m, _ := filepath.Glob("/run/netns/" + prefix + "-*"); len(m) != 0 {
				t.Fatalf("namespaces left after %v: %v", sig, m)
			}
		})
	}
}
