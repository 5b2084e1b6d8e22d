package homeagent

import (
	"log"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/homeip/homeip/binding"

	"github.com/homeip/homeip/homeagent/metrics"
)

// serverMetrics are the home agent's Prometheus series.
type serverMetrics struct {
	reg           *metrics.Registry
	registrations *metrics.CounterVec
	updates       *metrics.CounterVec
	enrolments    *metrics.CounterVec
	handover      *metrics.Histogram
	conns         atomic.Int64
}

func newServerMetrics(s *Server) *serverMetrics {
	r := metrics.NewRegistry()
	m := &serverMetrics{reg: r}
	m.registrations = r.NewCounter("homeip_ha_registrations_total", "Registrations by status.", "status")
	m.updates = r.NewCounter("homeip_ha_binding_updates_total", "Binding updates by status (accepted, lifetime_shortened, or the rejection).", "status")
	m.enrolments = r.NewCounter("homeip_ha_enrolments_total", "Enrolment attempts by status.", "status")
	r.NewGaugeFunc("homeip_ha_active_bindings", "Devices with a binding.", nil, func() []metrics.Sample {
		return []metrics.Sample{{Value: float64(s.cache.Len())}}
	})
	r.NewGaugeFunc("homeip_ha_live_peers", "WireGuard peers materialised on the data plane.", nil, func() []metrics.Sample {
		return []metrics.Sample{{Value: float64(s.livePeers())}}
	})
	r.NewGaugeFunc("homeip_ha_devices", "Devices in the registry.", nil, func() []metrics.Sample {
		return []metrics.Sample{{Value: float64(s.idx.len())}}
	})
	r.NewGaugeFunc("homeip_ha_control_connections", "Open control connections.", nil, func() []metrics.Sample {
		return []metrics.Sample{{Value: float64(m.conns.Load())}}
	})
	r.NewGaugeFunc("homeip_ha_goroutines", "Goroutines of the home agent's process.", nil, func() []metrics.Sample {
		return []metrics.Sample{{Value: float64(runtime.NumGoroutine())}}
	})
	r.NewGaugeFunc("homeip_ha_bindings_kept", "Bindings in the file written behind for restarts (as of the last write).", nil, func() []metrics.Sample {
		return []metrics.Sample{{Value: float64(s.keeper.keptCount.Load())}}
	})
	r.NewGaugeFunc("homeip_ha_pool_utilisation_ratio", "Share of a pool prefix's addresses that are leased, reserved or quarantined.", []string{"prefix"}, func() []metrics.Sample {
		var out []metrics.Sample
		for _, fam := range s.pool.Utilisation() {
			for _, p := range fam.Prefixes {
				v := 0.0
				if p.Capacity > 0 {
					v = float64(p.Used()) / float64(p.Capacity)
				}
				out = append(out, metrics.Sample{Labels: []string{p.Prefix.String()}, Value: v})
			}
		}
		return out
	})
	r.NewGaugeFunc("homeip_ha_pool_leased", "Leased addresses per pool prefix.", []string{"prefix"}, func() []metrics.Sample {
		var out []metrics.Sample
		for _, fam := range s.pool.Utilisation() {
			for _, p := range fam.Prefixes {
				out = append(out, metrics.Sample{Labels: []string{p.Prefix.String()}, Value: float64(p.Leased)})
			}
		}
		return out
	})
	m.handover = r.NewHistogram("homeip_ha_handover_seconds",
		"Time from the first packet on a new care-of address (the new control connection's arrival) to the binding ack.",
		[]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})
	return m
}

// metricsTimeout bounds every phase of a metrics request and the idle
// time of a kept-alive connection: a scraper is a friendly program on a
// near network, and anything slower is holding a goroutine and a socket.
const metricsTimeout = 10 * time.Second

// newMetricsServer serves h with every phase bounded by limit: reading the
// headers and the request, writing the answer, and waiting idle for the
// next request on a kept-alive connection (without IdleTimeout and
// ReadTimeout that wait has no end); headers are capped at 16 KiB and
// net/http's own complaints are dropped.
func newMetricsServer(h http.Handler, limit time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: limit,
		ReadTimeout:       limit,
		WriteTimeout:      limit,
		IdleTimeout:       limit,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(discard{}, "", 0),
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// statusLabel is a status as a Prometheus label value: "stale_sequence".
func statusLabel(s binding.Status) string {
	return strings.NewReplacer(" ", "_", "-", "_", "(", "_", ")", "").Replace(s.String())
}
