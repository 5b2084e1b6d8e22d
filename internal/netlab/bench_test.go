package netlab_test

import (
	"context"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
)

// BenchmarkLabLifecycle reports how long building and tearing down a lab
// takes, and how long one move of the mobile node takes.
func BenchmarkLabLifecycle(b *testing.B) {
	labtest.Require(b)
	ctx := context.Background()
	var build, move, teardown time.Duration
	for b.Loop() {
		t0 := time.Now()
		l, err := netlab.New(ctx, netlab.Options{})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := l.MoveToCell(ctx); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		build += t1.Sub(t0)
		move += t2.Sub(t1)
		teardown += time.Since(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(build.Milliseconds())/n, "build-ms")
	b.ReportMetric(float64(move.Microseconds())/1000/n, "move-ms")
	b.ReportMetric(float64(teardown.Milliseconds())/n, "teardown-ms")
}
