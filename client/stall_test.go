package client

import (
	"testing"
	"time"
)

// stallStep is one sample: the time since the previous one, the
// counters, the path RTT, and what the detector must answer.
type stallStep struct {
	after    time.Duration
	rx, tx   uint64
	rtt      time.Duration
	fire     bool
	wantNext time.Duration // zero: not checked
}

const (
	ms     = time.Millisecond
	sample = 50 * ms
	idle   = time.Second
)

// flow returns n samples sample apart in which rx grows by step from rx0
// (and tx by a little, as a TCP receiver's acknowledgements do).
func flow(n int, rx0, tx0 uint64) []stallStep {
	var s []stallStep
	for i := 1; i <= n; i++ {
		s = append(s, stallStep{after: sample, rx: rx0 + uint64(i)*1000, tx: tx0 + uint64(i)*60})
	}
	return s
}

// quiet returns n samples sample apart with the counters unchanged.
func quiet(n int, rx, tx uint64) []stallStep {
	var s []stallStep
	for range n {
		s = append(s, stallStep{after: sample, rx: rx, tx: tx})
	}
	return s
}

func cat(parts ...[]stallStep) []stallStep {
	var s []stallStep
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

// fireAt marks step i as the one that fires.
func fireAt(s []stallStep, i int) []stallStep {
	s[i].fire = true
	return s
}

func TestStallDetector(t *testing.T) {
	tests := []struct {
		name  string
		cfg   StallConfig
		steps []stallStep
	}{
		{
			name:  "baseline only",
			steps: []stallStep{{rx: 5000, tx: 100, wantNext: idle}},
		},
		{
			name:  "idle tunnel never fires and is sampled slowly",
			steps: cat([]stallStep{{rx: 5000, tx: 100}}, quiet(40, 5000, 100), []stallStep{{after: sample, rx: 5000, tx: 100, wantNext: idle}}),
		},
		{
			// Active downlink, then silence: 250 ms floor with a 1 ms RTT;
			// the sixth quiet sample (300 ms) is the first beyond it.
			name: "downlink stalls after flowing",
			steps: fireAt(cat([]stallStep{{rx: 0, tx: 0}}, flow(5, 0, 0),
				quiet(8, 5000, 300)), 1+5+5),
		},
		{
			name: "threshold follows the RTT",
			steps: func() []stallStep {
				s := cat([]stallStep{{rx: 0, tx: 0}}, flow(3, 0, 0), quiet(12, 3000, 180))
				for i := range s {
					s[i].rtt = 100 * ms // 400 ms threshold: the ninth quiet sample (450 ms)
				}
				s[1+3+8].fire = true
				return s
			}(),
		},
		{
			name: "threshold capped by the ceiling",
			cfg:  StallConfig{Ceiling: 300 * ms},
			steps: func() []stallStep {
				s := cat([]stallStep{{rx: 0, tx: 0}}, flow(3, 0, 0), quiet(8, 3000, 180))
				for i := range s {
					s[i].rtt = time.Second
				}
				s[1+3+6].fire = true
				return s
			}(),
		},
		{
			name: "fires once, then stays quiet while idle",
			steps: fireAt(cat([]stallStep{{rx: 0, tx: 0}}, flow(5, 0, 0),
				quiet(6, 5000, 300), quiet(30, 5000, 300),
				[]stallStep{{after: idle, rx: 5000, tx: 300, wantNext: idle}}), 1+5+5),
		},
		{
			name: "re-arms when traffic resumes and fires again",
			steps: func() []stallStep {
				s := cat([]stallStep{{rx: 0, tx: 0}}, flow(5, 0, 0), quiet(6, 5000, 300), quiet(4, 5000, 300),
					flow(3, 5000, 300), quiet(6, 8000, 480))
				s[1+5+5].fire = true
				s[len(s)-1].fire = true
				return s
			}(),
		},
		{
			name:  "a lone packet arms nothing",
			steps: cat([]stallStep{{rx: 0, tx: 0}}, []stallStep{{after: idle, rx: 148, tx: 0, wantNext: sample}}, quiet(20, 148, 0)),
		},
		{
			name: "a lone packet with ActiveSamples 1 arms",
			cfg:  StallConfig{ActiveSamples: 1},
			steps: fireAt(cat([]stallStep{{rx: 0, tx: 0}}, []stallStep{{after: idle, rx: 148, tx: 0}}, quiet(6, 148, 0)),
				1+1+5),
		},
		{
			name: "sent and nothing came back",
			steps: fireAt(cat([]stallStep{{rx: 100, tx: 100}},
				[]stallStep{{after: idle, rx: 100, tx: 400, wantNext: sample}},
				[]stallStep{{after: sample, rx: 100, tx: 800}, {after: sample, rx: 100, tx: 1200}},
				quiet(4, 100, 1200)), 1+1+2+3),
		},
		{
			name: "sent and answered",
			steps: cat([]stallStep{{rx: 100, tx: 100}},
				[]stallStep{{after: idle, rx: 100, tx: 400}, {after: sample, rx: 300, tx: 400, wantNext: sample}},
				quiet(20, 300, 400)),
		},
		{
			name: "counters reset start a new baseline",
			steps: cat([]stallStep{{rx: 0, tx: 0}}, flow(5, 0, 0),
				[]stallStep{{after: sample, rx: 10, tx: 10}}, quiet(10, 10, 10)),
		},
		{
			name: "custom floor and sample",
			cfg:  StallConfig{Floor: 100 * ms, Sample: 50 * ms},
			steps: fireAt(cat([]stallStep{{rx: 0, tx: 0}}, flow(3, 0, 0),
				quiet(4, 3000, 180)), 1+3+2),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewStallDetector(tt.cfg)
			now := time.Unix(1_000_000, 0)
			for i, s := range tt.steps {
				now = now.Add(s.after)
				rtt := s.rtt
				if rtt == 0 {
					rtt = ms
				}
				if got := d.Observe(now, s.rx, s.tx, rtt); got != s.fire {
					t.Fatalf("step %d (rx %d tx %d, +%v): fire = %v, want %v", i, s.rx, s.tx, s.after, got, s.fire)
				}
				if s.wantNext != 0 {
					if got := d.Next(); got != s.wantNext {
						t.Fatalf("step %d: Next = %v, want %v", i, got, s.wantNext)
					}
				}
			}
		})
	}
}

func TestStallDetectorReset(t *testing.T) {
	d := NewStallDetector(StallConfig{})
	now := time.Unix(1_000_000, 0)
	d.Observe(now, 0, 0, ms)
	for i := 1; i <= 5; i++ {
		now = now.Add(sample)
		d.Observe(now, uint64(i)*1000, 0, ms)
	}
	if d.Idle() {
		t.Error("Idle while the downlink flows")
	}
	d.Reset()
	if d.Idle() {
		t.Error("Idle before the baseline after Reset")
	}
	if got := d.Next(); got != sample {
		t.Errorf("Next after Reset = %v, want %v", got, sample)
	}
	// The first sample after Reset is a baseline: a long quiet time
	// before it does not count.
	now = now.Add(5 * time.Second)
	if d.Observe(now, 5000, 0, ms) {
		t.Fatal("fired on the baseline after Reset")
	}
	if !d.Idle() {
		t.Error("not Idle after a baseline with no traffic")
	}
	now = now.Add(5 * time.Second)
	if d.Observe(now, 5000, 0, ms) {
		t.Fatal("fired without the downlink having been active since Reset")
	}
}

func TestStallThresholds(t *testing.T) {
	d := NewStallDetector(StallConfig{})
	for _, c := range []struct {
		rtt, quiet, probe time.Duration
	}{
		{0, 250 * ms, 100 * ms},
		{ms, 250 * ms, 100 * ms},
		{40 * ms, 250 * ms, 120 * ms},
		{100 * ms, 400 * ms, 300 * ms},
		{time.Second, 2 * time.Second, time.Second},
	} {
		if got := d.Quiet(c.rtt); got != c.quiet {
			t.Errorf("Quiet(%v) = %v, want %v", c.rtt, got, c.quiet)
		}
		if got := d.ProbeTimeout(c.rtt); got != c.probe {
			t.Errorf("ProbeTimeout(%v) = %v, want %v", c.rtt, got, c.probe)
		}
	}
}

func TestStallConfigDefaults(t *testing.T) {
	c := StallConfig{Sample: 2 * time.Second, Idle: time.Second, Floor: 3 * time.Second, Ceiling: time.Second}.withDefaults()
	if c.Idle != c.Sample || c.Ceiling != c.Floor {
		t.Errorf("inconsistent config not repaired: %+v", c)
	}
	z := StallConfig{}.withDefaults()
	if z.Sample != 50*ms || z.Idle != time.Second || z.Floor != 250*ms || z.Ceiling != 2*time.Second ||
		z.RTTFactor != 4 || z.ActiveSamples != 2 || z.ProbeTimeout != 100*ms {
		t.Errorf("defaults: %+v", z)
	}
}
