package streamprobe

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppendDecode measures encoding and decoding a 1 KiB data record.
func BenchmarkAppendDecode(b *testing.B) {
	payload := make([]byte, 1024-HeaderSize)
	FillPattern(payload, 1)
	buf := make([]byte, 0, 1024)
	b.SetBytes(1024)
	for i := 0; b.Loop(); i++ {
		buf, _ = Append(buf[:0], Record{Kind: KindData, Seq: uint64(i), Payload: payload})
		if _, _, err := Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkLoopbackTCP runs a 1 ms-interval stream over loopback for one
// second per iteration and reports the delivery figures the lab relies on:
// the worst gap between arrivals and the one-way latency.
func BenchmarkLoopbackTCP(b *testing.B) {
	var maxGap, maxLat, avgLat float64
	for b.Loop() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		cfg := Config{Interval: time.Millisecond, Duration: time.Second}
		var rep *Report
		var rerr error
		var wg sync.WaitGroup
		wg.Go(func() {
			c, err := Accept(context.Background(), ln)
			if err != nil {
				rerr = err
				return
			}
			defer c.Close()
			rep, rerr = Receive(context.Background(), c, cfg)
		})
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Send(context.Background(), c, cfg); err != nil {
			b.Fatal(err)
		}
		c.Close()
		wg.Wait()
		if rerr != nil {
			b.Fatal(rerr)
		}
		maxGap = max(maxGap, rep.MaxGapMS)
		maxLat = max(maxLat, rep.Latency.MaxMS)
		avgLat = rep.Latency.AvgMS
	}
	b.ReportMetric(maxGap, "max-gap-ms")
	b.ReportMetric(avgLat, "avg-latency-ms")
	b.ReportMetric(maxLat, "max-latency-ms")
}
