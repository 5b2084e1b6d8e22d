package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestExposition(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("ha_updates_total", "Binding updates.\nBy status.", "status")
	c.With("accepted").Add(3)
	c.With("stale \"seq\"").Inc()
	r.NewGaugeFunc("ha_pool_used_ratio", "Pool use.", []string{"prefix"}, func() []Sample {
		return []Sample{{Labels: []string{"10.0.0.0/24"}, Value: 0.25}, {Labels: []string{"bad", "arity"}, Value: 1}}
	})
	h := r.NewHistogram("ha_handover_seconds", "Handover latency.", []float64{0.01, 0.1, 1})
	h.Observe(0.005)
	h.Observe(0.01)
	h.Observe(0.5)
	h.Observe(7)
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	want := `# HELP ha_updates_total Binding updates.\nBy status.
# TYPE ha_updates_total counter
ha_updates_total{status="accepted"} 3
ha_updates_total{status="stale \"seq\""} 1
# HELP ha_pool_used_ratio Pool use.
# TYPE ha_pool_used_ratio gauge
ha_pool_used_ratio{prefix="10.0.0.0/24"} 0.25
# HELP ha_handover_seconds Handover latency.
# TYPE ha_handover_seconds histogram
ha_handover_seconds_bucket{le="0.01"} 2
ha_handover_seconds_bucket{le="0.1"} 2
ha_handover_seconds_bucket{le="1"} 3
ha_handover_seconds_bucket{le="+Inf"} 4
ha_handover_seconds_sum 7.515
ha_handover_seconds_count 4
`
	if got := rec.Body.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
}

func TestConcurrent(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("x_total", "x", "k")
	h := r.NewHistogram("y", "y", []float64{1})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				c.With("a").Inc()
				h.Observe(0.5)
				r.WriteTo(io.Discard)
			}
		}()
	}
	wg.Wait()
	if c.With("a").Value() != 8000 || h.Count() != 8000 {
		t.Fatalf("counts %d %d", c.With("a").Value(), h.Count())
	}
}
