//go:build linux && !android

package tunnel

import (
	"log/slog"
	"net/netip"
	"testing"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
)

// BenchmarkBindLoopback moves batches of 64 WireGuard-sized datagrams
// over loopback through the shared Bind and, for comparison, through
// stock StdNetBind (both with UDP GSO/GRO where the kernel has them). It
// reports Gbit/s of payload; the ratio is what matters.
func BenchmarkBindLoopback(b *testing.B) {
	mk := map[string]func() conn.Bind{
		"shared": func() conn.Bind {
			return newSharedBind(netip.Addr{}, nil, nil, newDemux(), slog.New(slog.DiscardHandler))
		},
		"stock": conn.NewStdNetBind,
	}
	for _, name := range []string{"stock", "shared"} {
		b.Run(name, func(b *testing.B) {
			rx, tx := mk[name](), mk[name]()
			fns, port, err := rx.Open(0)
			if err != nil {
				b.Fatal(err)
			}
			defer rx.Close()
			if _, _, err := tx.Open(0); err != nil {
				b.Fatal(err)
			}
			defer tx.Close()
			ep, err := tx.ParseEndpoint(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
			if err != nil {
				b.Fatal(err)
			}
			const batch, size = 64, 1400
			out := make([][]byte, batch)
			for i := range out {
				out[i] = make([]byte, size, device.MaxMessageSize)
				out[i][0] = 4
			}
			in := make([][]byte, conn.IdealBatchSize)
			for i := range in {
				in[i] = make([]byte, device.MaxMessageSize)
			}
			sizes := make([]int, conn.IdealBatchSize)
			eps := make([]conn.Endpoint, conn.IdealBatchSize)
			b.ResetTimer()
			var bytes int64
			for i := 0; i < b.N; i++ {
				for j := range out {
					out[j] = out[j][:size]
				}
				if err := tx.Send(out, ep); err != nil {
					b.Fatal(err)
				}
				got := 0
				for got < batch {
					n, err := fns[0](in, sizes, eps)
					if err != nil {
						b.Fatal(err)
					}
					for k := 0; k < n; k++ {
						if sizes[k] > 0 {
							got++
							bytes += int64(sizes[k])
						}
					}
				}
			}
			b.ReportMetric(float64(bytes)*8/b.Elapsed().Seconds()/1e9, "Gbit/s")
		})
	}
}
