// Package leaktest checks, at the end of a package's tests, that no
// goroutine running code of the named packages outlived them: every
// goroutine homeip starts has an owner that stops and waits for it
// (CONVENTIONS.md), and this is how the tests hold them to it.
package leaktest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests of m and then, if they passed, waits up to grace
// for every goroutine whose stack mentions one of match (substrings such
// as "github.com/homeip/homeip/" or "internal/streamprobe.") to end. It
// exits with the tests' code, or 1 with the leaked stacks on stderr.
// Call it from TestMain; cleanup, if not nil, runs after the tests and
// before the check.
func Main(m *testing.M, grace time.Duration, cleanup func(), match ...string) {
	code := m.Run()
	if cleanup != nil {
		cleanup()
	}
	if code == 0 {
		if leaked := Leaked(grace, match...); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Leaked waits up to grace for the goroutines whose stacks mention one of
// match to end, and returns the stacks of those still running ("" when
// none). The goroutine running the tests' main (testing.(*M)) and this
// check are never counted.
func Leaked(grace time.Duration, match ...string) string {
	deadline := time.Now().Add(grace)
	for {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "leaktest.Leaked") || strings.Contains(g, "testing.(*M)") {
				continue
			}
			for _, m := range match {
				if strings.Contains(g, m) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
