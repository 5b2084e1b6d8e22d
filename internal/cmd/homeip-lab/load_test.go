package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/handoverbench"
	"github.com/homeip/homeip/internal/netlab/labtest"
)

// TestLoadShort runs the load generator for a few seconds with a dozen
// devices and a mix that makes every kind of turn happen, so that it
// keeps working; the figures are not judged, only that the home agent
// took the load without errors.
func TestLoadShort(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := handoverbench.Build(ctx, t.TempDir(), "ha")
	if err != nil {
		t.Fatal(err)
	}
	res, err := runLoad(ctx, loadConfig{HA: bin.HA, Devices: 12, Duration: 4 * time.Second, Window: 4,
		MovePct: 10, HeartbeatPct: 10, ExpirePct: 3, RevokePct: 25, Setup: 4})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeLoadTable(&out, res)
	t.Logf("homeip-lab load, 12 devices, 4 s (2 shared cores, race detector off):\n%s", out.String())
	if res.Errors > 0 {
		t.Errorf("%d errors, the first: %s", res.Errors, res.FirstError)
	}
	if res.Accepted == 0 || res.ClientAcked == 0 || len(res.BULatency) == 0 {
		t.Errorf("no binding update went through: ha accepted %d, devices saw %d acked", res.Accepted, res.ClientAcked)
	}
	if res.Moves == 0 || res.Heartbeats == 0 || res.Expiries == 0 {
		t.Errorf("turns: %d moves, %d heartbeats, %d expiries; want each kind at least once", res.Moves, res.Heartbeats, res.Expiries)
	}
	if res.Revoked != 3 || res.RevokeSeen == 0 || res.Connected != 12-int(res.RevokeSeen) {
		t.Errorf("revoked %d (want 3), seen by %d devices, %d connected at the end", res.Revoked, res.RevokeSeen, res.Connected)
	}
	if len(res.DevicesList) == 0 || len(res.BindingsList) == 0 {
		t.Error("the admin API was not sampled")
	}
	if res.RSSLoaded == 0 || res.GoroutinesLoaded == 0 {
		t.Errorf("ha's footprint not measured: RSS %d, goroutines %v", res.RSSLoaded, res.GoroutinesLoaded)
	}
	if res.HAExitErr != nil {
		t.Errorf("ha did not exit cleanly: %v", res.HAExitErr)
	}
	if !strings.Contains(out.String(), "binding updates through ha") {
		t.Errorf("table without the throughput line:\n%s", out.String())
	}
}
