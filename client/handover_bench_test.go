package client_test

import (
	"testing"

	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/client/clienttest"
)

// BenchmarkHandoverLoopback measures a complete move on loopback against
// the fake home agent: from the network change being pushed to the
// acknowledged binding update on a new QUIC connection (rebind, handshake,
// Register + BindingUpdate, close of the old connection). It reports the
// node's own measure (ms/handover, debounce included) next to ns/op.
func BenchmarkHandoverLoopback(b *testing.B) {
	e := enrollEnv(b, clienttest.Config{})
	e.start(netState(wifiLink), nil)
	e.waitFor("registration", registered)
	var total float64
	n := 0
	for b.Loop() {
		want := e.node.Status().Handovers + 1
		st := netState(cellLink)
		if n%2 == 1 {
			st = netState(wifiLink)
		}
		e.w.Set(st)
		s := e.waitFor("handover", func(s client.Status) bool { return s.Handovers >= want && s.State == "registered" })
		total += s.LastHandoverMs
		n++
	}
	b.ReportMetric(total/float64(n), "ms/handover")
}
