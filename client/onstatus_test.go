package client_test

import (
	"sync"
	"testing"

	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/client/clienttest"
)

// TestOnStatus checks that Config.OnStatus sees every state the node goes
// through, with the snapshot Status would return.
func TestOnStatus(t *testing.T) {
	e := enrollEnv(t, clienttest.Config{})
	var mu sync.Mutex
	var states []string
	var last client.Status
	e.start(netState(wifiLink), func(c *client.Config) {
		c.OnStatus = func(s client.Status) {
			mu.Lock()
			defer mu.Unlock()
			if len(states) == 0 || states[len(states)-1] != s.State {
				states = append(states, s.State)
			}
			last = s
		}
	})
	e.waitFor("registration", registered)
	e.w.Set(netState(cellLink))
	e.waitFor("handover", func(s client.Status) bool { return registered(s) && s.Interface == "wwan0" })
	e.node.Down()
	if err := <-e.done; err != nil {
		t.Fatal(err)
	}
	e.done <- nil
	mu.Lock()
	defer mu.Unlock()
	want := []string{"starting", "connecting", "registered", "moving", "registered", "stopping"}
	if len(states) != len(want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("states %v, want %v", states, want)
		}
	}
	if last.State != "stopping" || last.Interface != "wwan0" || last.Handovers != 1 {
		t.Errorf("last snapshot %+v", last)
	}
}
