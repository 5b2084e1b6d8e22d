package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildTool builds this command once per test run and returns its path.
func buildTool(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "homeip-lab-test")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "homeip-lab")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building homeip-lab: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// TestSignalTearsDownLab runs the real binary's `lab up`, interrupts it
// with SIGINT and SIGTERM, and checks its namespaces are gone.
func TestSignalTearsDownLab(t *testing.T) {
	t.Parallel()
	labtest.Require(t)
	bin := buildTool(t)
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
