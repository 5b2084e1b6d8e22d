package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/handoverbench"
	"github.com/homeip/homeip/internal/netlab"
)

// reachLimit is how long after its restart the home agent may take to
// deliver a packet to an idle device's VIP again. It is far below the
// node's heartbeat interval (25 s, jittered down to 12.5 s), so only a
// home agent that re-creates its peers from what it kept passes; the
// figure the test logs is the measurement, the limit only a survival
// bound for a shared machine.
const reachLimit = 5 * time.Second

// TestHomeAgentRestartReachesIdleNode kills the home agent (SIGKILL, then
// again with SIGTERM) under a registered node that sends nothing, starts
// it again at once, as its supervisor would, and pings the node's VIP
// from cn until it answers: the restarted home agent must know where the
// node is without waiting for the node's next heartbeat.
func TestHomeAgentRestartReachesIdleNode(t *testing.T) {
	t.Parallel()
	h := deploy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if got := pingUntil(ctx, h.Lab.CN, h, 10*time.Second); got < 0 {
		t.Fatalf("VIP %v not reachable from cn before any restart", h.VIP4)
	}
	for _, how := range []string{"SIGKILL", "SIGTERM"} {
		// Let the binding be written behind, as it is long before a
		// real crash of an idle device's home agent.
		time.Sleep(time.Second)
		var err error
		if how == "SIGKILL" {
			err = h.KillHA(ctx)
		} else {
			err = h.StopHA(10 * time.Second)
		}
		if err != nil {
			t.Fatalf("stopping ha with %s: %v", how, err)
		}
		started := time.Now()
		if err := h.StartHA(ctx); err != nil {
			t.Fatalf("restarting ha after %s: %v", how, err)
		}
		up := time.Since(started)
		reach := pingUntil(ctx, h.Lab.CN, h, reachLimit)
		if reach < 0 {
			t.Fatalf("after %s and a restart (admin API up in %v), VIP %v not reachable from cn within %v of the admin API answering",
				how, up.Round(time.Millisecond), h.VIP4, reachLimit)
		}
		t.Logf("after %s: ha restarted (admin API up) in %v; VIP %v reachable from cn %v after that, %v after the start",
			how, up.Round(time.Millisecond), h.VIP4, reach.Round(time.Millisecond), (up + reach).Round(time.Millisecond))
	}
}

// pingUntil pings the node's VIP from n every 50 ms until a reply comes
// and returns how long that took, or -1 after limit.
func pingUntil(ctx context.Context, n *netlab.Node, h *handoverbench.HomeIP, limit time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < limit && ctx.Err() == nil {
		res, err := n.Ping(ctx, h.VIP4, netlab.PingOptions{Timeout: 50 * time.Millisecond})
		if err == nil && res.Received > 0 {
			return time.Since(start)
		}
		if err != nil {
			time.Sleep(20 * time.Millisecond) // no route yet: do not spin
		}
	}
	return -1
}
