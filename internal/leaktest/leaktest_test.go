package leaktest

import (
	"strings"
	"testing"
	"time"
)

// parkForLeaktest is a goroutine body with a name the check can find.
func parkForLeaktest(stop <-chan struct{}) { <-stop }

func TestLeakedFindsAndForgets(t *testing.T) {
	stop := make(chan struct{})
	go parkForLeaktest(stop)
	if got := Leaked(50*time.Millisecond, "leaktest.parkForLeaktest"); !strings.Contains(got, "parkForLeaktest") {
		t.Fatalf("running goroutine not reported: %q", got)
	}
	close(stop)
	if got := Leaked(2*time.Second, "leaktest.parkForLeaktest"); got != "" {
		t.Fatalf("ended goroutine still reported:\n%s", got)
	}
}

func TestLeakedIgnoresUnmatched(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	go parkForLeaktest(stop)
	if got := Leaked(0, "no.such.package"); got != "" {
		t.Fatalf("unmatched goroutine reported:\n%s", got)
	}
}
