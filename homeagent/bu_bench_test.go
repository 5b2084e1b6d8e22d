package homeagent

import (
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
)

// BenchmarkBindingUpdateRoundTrip measures one binding update from a
// registered device over QUIC on loopback: decode, Cache.Apply, the data
// plane call, and the ack back to the device. Every update moves the
// primary between two binding ids.
func BenchmarkBindingUpdateRoundTrip(b *testing.B) {
	cfg := labConfig("")
	cfg.UpdateRate = 100000
	h := startHA(b, b.TempDir(), cfg, nil)
	dev := newDevice(b)
	c, _ := h.enrol("bench", dev)
	c.register(dev)
	bu := &binding.BindingUpdate{Flags: binding.FlagAck | binding.FlagOverwrite, Lifetime: time.Minute,
		Entries: []binding.CareOf{{BID: 1, Priority: 10}, {BID: 2, Priority: 10}}}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		bu.Sequence = uint16(i + 1)
		bu.Via = uint16(1 + i%2)
		bu.Entries[0].Priority, bu.Entries[1].Priority = 10, 10
		bu.Entries[i%2].Priority = 20
		c.send(bu)
		if a := recvAs[*binding.BindingAck](c); a.Status != binding.StatusAccepted {
			b.Fatalf("ack %+v", a)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/update")
}
