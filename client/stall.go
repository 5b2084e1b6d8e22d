package client

import "time"

// StallConfig tunes a [StallDetector]. The zero value is usable; zero
// fields take the defaults documented on each.
type StallConfig struct {
	// Disable turns stall detection off: a silently dead path is then
	// noticed only by the keepalive schedule.
	Disable bool
	// Sample is the interval between two looks at the tunnel's counters
	// while traffic flows (default 50 ms).
	Sample time.Duration
	// Idle is the interval between two looks while the tunnel is idle or
	// the detector has fired and waits for traffic to resume (default
	// 1 s), used only when the data plane has no activity signal (see
	// tunnel.Device.Activity): with one, an idle node does not sample at
	// all until WireGuard traffic passes. A look reads in-process
	// counters only: it sends nothing, so it never wakes the radio.
	Idle time.Duration
	// Floor is the shortest quiet time that counts as a stall (default
	// 250 ms); the threshold is RTTFactor smoothed RTTs of the path, at
	// least Floor and at most Ceiling (default 2 s).
	Floor, Ceiling time.Duration
	// RTTFactor multiplies the path RTT into the quiet threshold (default
	// 4).
	RTTFactor int
	// ActiveSamples is how many samples in a row must see the downlink
	// grow before it counts as active (default 2), so that a lone packet
	// (a push notification, a WireGuard keepalive) arms nothing.
	ActiveSamples int
	// ProbeTimeout is the shortest time a stall probe (a heartbeat) waits
	// for its answer (default 100 ms); the timeout is three path RTTs, at
	// least this and at most 1 s. One retry follows an unanswered probe.
	ProbeTimeout time.Duration
}

func (c StallConfig) withDefaults() StallConfig {
	if c.Sample <= 0 {
		c.Sample = 50 * time.Millisecond
	}
	if c.Idle <= 0 {
		c.Idle = time.Second
	}
	if c.Idle < c.Sample {
		c.Idle = c.Sample
	}
	if c.Floor <= 0 {
		c.Floor = 250 * time.Millisecond
	}
	if c.Ceiling <= 0 {
		c.Ceiling = 2 * time.Second
	}
	if c.Ceiling < c.Floor {
		c.Ceiling = c.Floor
	}
	if c.RTTFactor <= 0 {
		c.RTTFactor = 4
	}
	if c.ActiveSamples <= 0 {
		c.ActiveSamples = 2
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 100 * time.Millisecond
	}
	return c
}

// StallDetector decides, from the home agent peer's traffic counters,
// when a path may have died silently (the link is up but nothing passes)
// so that the node probes it at once instead of waiting for its next
// keepalive. It is a pure state machine, not safe for concurrent use:
// the caller samples the counters every Next(), hands them to Observe,
// and probes when Observe says so.
//
// It fires on either of:
//   - the downlink was active (it grew in ActiveSamples samples in a
//     row) and has been quiet for longer than the threshold (Quiet);
//   - the node sent (TxBytes grew) and nothing came back for longer than
//     the threshold.
//
// After firing it stays disarmed until the downlink grows again, so a
// path that simply went idle costs at most one probe, and an idle
// tunnel is looked at only every Idle.
type StallDetector struct {
	cfg StallConfig

	started bool
	rx, tx  uint64

	growing   int       // consecutive samples in which rx grew
	active    bool      // the downlink counted as active since the last rx growth run
	lastRx    time.Time // last sample in which rx grew
	txPending time.Time // first sample in which tx grew with no rx since; zero = none
	fired     bool      // fired; disarmed until rx grows again
}

// NewStallDetector returns a detector with cfg's defaults applied.
func NewStallDetector(cfg StallConfig) *StallDetector {
	return &StallDetector{cfg: cfg.withDefaults()}
}

// Quiet is the quiet time that counts as a stall on a path with the
// given smoothed RTT (zero: unknown).
func (d *StallDetector) Quiet(rtt time.Duration) time.Duration {
	return min(max(time.Duration(d.cfg.RTTFactor)*rtt, d.cfg.Floor), d.cfg.Ceiling)
}

// ProbeTimeout is how long a stall probe waits for its answer on a path
// with the given smoothed RTT.
func (d *StallDetector) ProbeTimeout(rtt time.Duration) time.Duration {
	return min(max(3*rtt, d.cfg.ProbeTimeout), time.Second)
}

// Reset forgets everything: the next Observe only records a baseline.
// The node calls it when the path changes.
func (d *StallDetector) Reset() {
	*d = StallDetector{cfg: d.cfg}
}

// Observe records a sample of the counters taken at now on a path with
// the given smoothed RTT and reports whether to probe the path now.
// Counters that went backwards (the peer was configured anew) start a
// new baseline.
func (d *StallDetector) Observe(now time.Time, rx, tx uint64, rtt time.Duration) bool {
	if !d.started || rx < d.rx || tx < d.tx {
		d.started = true
		d.rx, d.tx = rx, tx
		d.growing, d.active, d.txPending = 0, false, time.Time{}
		d.lastRx = now
		return false
	}
	rxGrew, txGrew := rx > d.rx, tx > d.tx
	d.rx, d.tx = rx, tx
	if rxGrew {
		d.lastRx = now
		d.txPending = time.Time{}
		d.fired = false
		d.growing++
		if d.growing >= d.cfg.ActiveSamples {
			d.active = true
		}
	} else {
		d.growing = 0
		if txGrew && d.txPending.IsZero() {
			d.txPending = now
		}
	}
	if d.fired {
		return false
	}
	threshold := d.Quiet(rtt)
	downlinkStalled := d.active && now.Sub(d.lastRx) > threshold
	uplinkUnanswered := !d.txPending.IsZero() && now.Sub(d.txPending) > threshold
	if downlinkStalled || uplinkUnanswered {
		d.fired = true
		d.active = false
		d.txPending = time.Time{}
		return true
	}
	return false
}

// Idle reports whether the detector has nothing to time: the baseline
// is taken and no traffic flows (or it fired and waits for the downlink
// to resume). A caller with an activity signal from its data plane then
// waits for it instead of sampling.
func (d *StallDetector) Idle() bool {
	return d.started && (d.fired || !d.active && d.growing == 0 && d.txPending.IsZero())
}

// Next is how long to wait before the next sample: Idle while the
// detector is idle, Sample otherwise (before the baseline is taken,
// while traffic flows or while a stall is being timed).
func (d *StallDetector) Next() time.Duration {
	if d.Idle() {
		return d.cfg.Idle
	}
	return d.cfg.Sample
}
