package e2e

import (
	"context"
	"encoding/json"
	"net/netip"
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
	finishFlows(ctx, t, flows, stopped.Add(-50*time.Millisecond), time.Now(), resumeLimit)
	checkVIPs(ctx, t, h)
	// The restarted home agent knows the binding only if the node
	// registered with it again.
	out, err := h.Bindings(ctx)
	if err != nil {
		t.Fatalf("ha binding list after the restart: %v", err)
	}
	var bindings []struct {
		Device  string         `json:"device"`
		VIP4    netip.Addr     `json:"vip4"`
		VIP6    netip.Addr     `json:"vip6"`
		Primary netip.AddrPort `json:"primary"`
	}
	if err := json.Unmarshal([]byte(out), &bindings); err != nil {
		t.Fatalf("ha binding list --json: %v: %s", err, out)
	}
	if len(bindings) != 1 || !bindings[0].Primary.IsValid() || bindings[0].VIP4 != h.VIP4 || bindings[0].VIP6 != h.VIP6 {
		t.Errorf("bindings after the restart = %+v, want the node bound with VIPs %v and %v", bindings, h.VIP4, h.VIP6)
	}
	st, err := h.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node after the restart: %s, care-of %v, %d reconnects", st.State, st.CareOf, st.Reconnects)
	if st.Reconnects < 1 {
		t.Errorf("node reports %d reconnects after the home agent restarted, want ≥ 1", st.Reconnects)
	}
}
