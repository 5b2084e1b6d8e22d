package streamprobe

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures one end of a probe. The zero value is usable; defaults
// are applied by populate.
type Config struct {
	// Interval between data records sent. Default 10 ms; it may be as
	// short as 100 µs.
	Interval time.Duration
	// RecordSize is the size of each data record in bytes, header
	// included: HeaderSize..MaxRecordSize. Default 256.
	RecordSize int
	// Duration the sender sends for; 0 means until its context ends.
	// Receivers ignore it.
	Duration time.Duration
	// GapThreshold: a pause between two arrivals longer than this is
	// reported as a gap. Default 10 × Interval, at least 20 ms.
	GapThreshold time.Duration
	// IdleTimeout: an end that makes no progress (receives nothing, or
	// cannot write) for this long gives up with ErrStalled. Default 5 s;
	// negative disables it.
	IdleTimeout time.Duration
	// SayHello makes a datagram receiver send hello records until data
	// arrives, so that a listening sender learns its address. Run sets it
	// for a dialing UDP receiver.
	SayHello bool
	// Progress, if set, is called every ProgressInterval (default 1 s)
	// from a goroutine the probe owns, and once more at the end.
	Progress         func(Progress)
	ProgressInterval time.Duration
	// Logger receives debug messages; nil discards them.
	Logger *slog.Logger
}

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("streamprobe: bad config")

const (
	defaultInterval     = 10 * time.Millisecond
	minInterval         = 100 * time.Microsecond
	defaultRecordSize   = 256
	defaultIdleTimeout  = 5 * time.Second
	defaultProgressTick = time.Second
	minGapThreshold     = 20 * time.Millisecond
)

func (c Config) populate() (Config, error) {
	switch {
	case c.Interval == 0:
		c.Interval = defaultInterval
	case c.Interval < minInterval:
		return c, fmt.Errorf("%w: interval %v below %v", ErrConfig, c.Interval, minInterval)
	}
	switch {
	case c.RecordSize == 0:
		c.RecordSize = defaultRecordSize
	case c.RecordSize < HeaderSize || c.RecordSize > MaxRecordSize:
		return c, fmt.Errorf("%w: record size %d outside %d..%d", ErrConfig, c.RecordSize, HeaderSize, MaxRecordSize)
	}
	if c.Duration < 0 {
		return c, fmt.Errorf("%w: negative duration %v", ErrConfig, c.Duration)
	}
	switch {
	case c.GapThreshold == 0:
		c.GapThreshold = max(10*c.Interval, minGapThreshold)
	case c.GapThreshold < 0:
		return c, fmt.Errorf("%w: negative gap threshold %v", ErrConfig, c.GapThreshold)
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = defaultIdleTimeout
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = defaultProgressTick
	} else if c.ProgressInterval < 0 {
		return c, fmt.Errorf("%w: negative progress interval %v", ErrConfig, c.ProgressInterval)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With("component", "streamprobe")
	return c, nil
}
