package client_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when goroutines outlive the tests: every
// goroutine the node, its sessions, the control server and the fake home
// agent start must be gone once they are closed.
func TestMain(m *testing.M) {
	base := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if leaked := waitGoroutines(base, 5*time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked (%d at start):\n%s\n", base, leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func waitGoroutines(base int, within time.Duration) string {
	deadline := time.Now().Add(within)
	for {
		if runtime.NumGoroutine() <= base {
			return ""
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			var out []string
			for _, g := range strings.Split(string(buf[:n]), "\n\n") {
				if !strings.Contains(g, "testing.(*M).Run") && !strings.Contains(g, "waitGoroutines") {
					out = append(out, g)
				}
			}
			return strings.Join(out, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
