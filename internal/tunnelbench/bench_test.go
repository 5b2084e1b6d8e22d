package tunnelbench

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	ChildMain()
	os.Exit(m.Run())
}

var (
	runBench = flag.Bool("tunnelbench", false, "run the throughput comparison as a test (needs root)")
	duration = flag.Duration("tunnelbench.duration", 5*time.Second, "duration of each measurement")
	streams  = flag.Int("tunnelbench.streams", 1, "parallel TCP streams")
	rounds   = flag.Int("tunnelbench.rounds", 1, "alternating stock/homeip rounds")
)

// labOK skips (or, with HOMEIP_REQUIRE_LAB=1, fails) without root.
func labOK(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("HOMEIP_REQUIRE_LAB") == "1" {
		tb.Fatal("throughput bench needs root and HOMEIP_REQUIRE_LAB=1")
	}
	tb.Skip("throughput bench needs root")
}

func opts() Options {
	return Options{Duration: *duration, Streams: *streams, Rounds: *rounds,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
}

// TestThroughput runs the comparison with -tunnelbench and checks that
// every path carried traffic; it never judges the figures.
func TestThroughput(t *testing.T) {
	if !*runBench {
		t.Skip("pass -tunnelbench to run the throughput comparison")
	}
	labOK(t)
	r, err := Run(context.Background(), opts())
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + r.String())
	if r.Veth <= 0 || r.Stock <= 0 || r.HomeIP <= 0 {
		t.Fatalf("a path carried nothing: %+v", r)
	}
}

// BenchmarkThroughput reports the three throughputs and the ratios.
func BenchmarkThroughput(b *testing.B) {
	labOK(b)
	for i := 0; i < b.N; i++ {
		r, err := Run(context.Background(), opts())
		if err != nil {
			b.Fatal(err)
		}
		b.Log("\n" + r.String())
		b.ReportMetric(r.Veth, "veth-Gbit/s")
		b.ReportMetric(r.Stock, "stock-Gbit/s")
		b.ReportMetric(r.HomeIP, "homeip-Gbit/s")
		b.ReportMetric(r.HomeIPOverStock(), "homeip/stock")
		b.ReportMetric(r.StockOverVeth(), "stock/veth")
	}
}

// TestPathMTU runs the narrow-path comparison with -tunnelbench and
// checks that both tunnels carried traffic; it never judges the figures.
func TestPathMTU(t *testing.T) {
	if !*runBench {
		t.Skip("pass -tunnelbench to run the path MTU comparison")
	}
	labOK(t)
	r, err := RunPathMTU(context.Background(), opts())
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + r.String())
	if r.Learned <= 0 || r.Manual <= 0 {
		t.Fatalf("a tunnel carried nothing: %+v", r)
	}
}

// BenchmarkPathMTU reports both throughputs over the narrow path and
// their ratio.
func BenchmarkPathMTU(b *testing.B) {
	labOK(b)
	for i := 0; i < b.N; i++ {
		r, err := RunPathMTU(context.Background(), opts())
		if err != nil {
			b.Fatal(err)
		}
		b.Log("\n" + r.String())
		b.ReportMetric(r.Learned, "learned-Gbit/s")
		b.ReportMetric(r.Manual, "manual-Gbit/s")
		b.ReportMetric(r.LearnedOverManual(), "learned/manual")
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Duration != 5*time.Second || o.Streams != 1 || o.Rounds != 1 || o.Executable == "" || o.Logger == nil {
		t.Fatalf("defaults %+v", o)
	}
	if _, err := (Options{Streams: -1}).withDefaults(); err == nil {
		t.Fatal("negative streams accepted")
	}
	r := Result{Veth: 10, Stock: 4, HomeIP: 3.9}
	if r.HomeIPOverStock() < 0.974 || r.HomeIPOverStock() > 0.976 || r.StockOverVeth() != 0.4 || (Result{}).HomeIPOverStock() != 0 {
		t.Fatalf("ratios %v %v", r.HomeIPOverStock(), r.StockOverVeth())
	}
}
