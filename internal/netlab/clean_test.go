package netlab_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
)

const childEnv = "HOMEIP_NETLAB_CHILD_PREFIX"

// TestMain runs the child half of TestCleanAllAfterKill when asked to.
func TestMain(m *testing.M) {
	if prefix := os.Getenv(childEnv); prefix != "" {
		cleanChild(prefix)
		return
	}
	if os.Getenv(checkChildEnv) != "" {
		checkChild()
		return
	}
	os.Exit(m.Run())
}

// cleanChild builds a lab with the given prefix, starts a process in it,
// says READY and waits to be killed.
func cleanChild(prefix string) {
	l, err := netlab.New(context.Background(), netlab.Options{Prefix: prefix})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	defer l.Close()
	// A process started with Command (not Start) survives its parent's
	// death; CleanAll must kill it.
	if err := l.CN.Command(context.Background(), "sleep", "600").Start(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString("READY\n")
	time.Sleep(time.Minute) // the parent SIGKILLs us long before
}

func namespacesWith(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			names = append(names, f[0])
		}
	}
	return names
}

func TestCleanAllAfterKill(t *testing.T) {
	t.Parallel()
	labtest.Require(t)
	prefix := netlab.NewPrefix()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+prefix)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever happened, leave nothing behind.
		_ = cmd.Process.Kill()
		_, _ = netlab.CleanAll(context.Background(), prefix)
	})
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		if sc.Text() == "READY" {
			ready = true
			break
		}
	}
	if !ready {
		_ = cmd.Wait()
		t.Fatal("child never built its lab")
	}
	// While the child lives, CleanAll must leave its lab alone.
	if removed, err := netlab.CleanAll(ctx, prefix); err != nil || len(removed) != 0 {
		t.Fatalf("CleanAll with a live owner removed %v (err %v)", removed, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if left := namespacesWith(t, prefix); len(left) != 6 {
		t.Fatalf("after SIGKILL want the 6 namespaces left behind, have %v", left)
	}
	removed, err := netlab.CleanAll(ctx, prefix)
	if err != nil {
		t.Fatalf("CleanAll: %v", err)
	}
	if len(removed) != 6 {
		t.Fatalf("CleanAll removed %v, want 6 namespaces", removed)
	}
	if left := namespacesWith(t, prefix); len(left) != 0 {
		t.Fatalf("namespaces left after CleanAll: %v", left)
	}
	if _, err := os.Stat("/run/homeip-netlab/" + prefix); err == nil {
		t.Fatal("owner record left after CleanAll")
	}
}
