package leaktest

import (
	"strings"
	"testing"
	"time"
)

// parkForLeaktest is a goroutine body with a name the check can find;
// kept out of line so that its name is on the goroutine's stack.
//
//go:noinline
func parkForLeaktest(started chan<- struct{}, stop <-chan struct{}) {
	close(started)
	<-stop
}

// park starts parkForLeaktest and waits until it runs.
func park(stop <-chan struct{}) {
	started := make(chan struct{})
	go parkForLeaktest(started, stop)
	<-started
}

func TestLeakedFindsAndForgets(t *testing.T) {
	stop := make(chan struct{})
	park(stop)
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
	park(stop)
	if got := Leaked(0, "no.such.package"); got != "" {
		t.Fatalf("unmatched goroutine reported:\n%s", got)
	}
}
