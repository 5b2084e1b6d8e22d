package e2e

import (
	"context"
	"testing"
	"time"
)

// TestHomeAgentRestart stops the home agent with SIGTERM in the middle of
// two streams the node only receives, starts it again on the same data
// directory, and checks that the node re-registers with the same VIPs
// and that both streams come through intact (TCP retransmits across the
// gap).
func TestHomeAgentRestart(t *testing.T) {
	t.Parallel()
	h := deploy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	flows := startFlows(ctx, t, h, false)
	stopped := time.Now()
	if err := h.RestartHA(ctx, 10*time.Second); err != nil {
		t.Fatalf("restarting ha: %v", err)
	}
	t.Logf("ha stopped (SIGTERM, clean exit) and started again in %v", time.Since(stopped).Round(time.Millisecond))
	finishFlows(ctx, t, flows, stopped.Add(-50*time.Millisecond), time.Now(), 90*time.Second)
	checkVIPs(ctx, t, h)
	if b, err := h.Bindings(ctx); err != nil {
		t.Errorf("ha binding list after the restart: %v", err)
	} else {
		t.Logf("bindings after the restart: %s", b)
	}
}
