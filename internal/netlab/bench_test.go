package netlab_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
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

// BenchmarkLinkTCP measures one bulk TCP transfer each way across mn's
// Wi-Fi link, as configured by each case: what the delay relay (and the
// per-packet segmentation it needs) sustains. Run it alone:
//
//	go test -run '^$' -bench LinkTCP -benchtime 1x ./internal/netlab
func BenchmarkLinkTCP(b *testing.B) {
	labtest.Require(b)
	cases := []struct {
		name string
		link netlab.LinkConfig
	}{
		{"ideal", netlab.LinkConfig{}},
		{"loss-0.01pct", netlab.LinkConfig{Loss: 0.0001}}, // per-packet segmentation, nftables, no relay
		{"relay-delay-1ms", netlab.LinkConfig{Delay: time.Millisecond}},
		{"relay-delay-10ms", netlab.LinkConfig{Delay: 10 * time.Millisecond}},
		{"wifi-profile", netlab.WifiProfile},
		{"cellular-profile", netlab.CellularProfile},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			l, err := netlab.New(ctx, netlab.Options{Network: netlab.Network{Wifi: c.link}})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var up, down float64
			for b.Loop() {
				up = bulkTCP(b, l.MN, l.HA, netlab.HAPublic6, 3*time.Second)
				down = bulkTCP(b, l.HA, l.MN, netlab.MNWifiA6, 3*time.Second)
			}
			b.ReportMetric(up, "up-Mbit/s")
			b.ReportMetric(down, "down-Mbit/s")
			if c.link.Delay > 0 {
				su, sd := l.DelayStats(netlab.LinkWifi)
				b.ReportMetric(float64(su.Packets+sd.Packets), "relayed-pkts")
				b.ReportMetric(float64(max(su.MaxBacklog, sd.MaxBacklog)), "max-backlog-pkts")
				if c.link.Loss > 0 {
					out, err := l.Wifi.Run(ctx, "nft", "list", "chain", "inet", "homeip_link", "pre")
					if err != nil {
						b.Fatal(err)
					}
					var dropped float64
					for _, f := range strings.Split(out, "counter packets ")[1:] {
						var n float64
						fmt.Sscan(f, &n)
						dropped += n
					}
					b.ReportMetric(100*dropped/(dropped+float64(su.Packets+sd.Packets)), "lost-%")
				}
			}
		})
	}
}

// bulkTCP sends as fast as it can from one node to a listener on another
// for d and returns the receiver's rate in Mbit/s.
func bulkTCP(b *testing.B, from, to *netlab.Node, addr netip.Addr, d time.Duration) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	ln, err := to.Listen(ctx, "tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	got := make(chan float64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<16)
		var n int64
		start := time.Now()
		for {
			k, err := c.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		got <- float64(n) * 8 / time.Since(start).Seconds() / 1e6
	}()
	c, err := from.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<16)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	return <-got
}
