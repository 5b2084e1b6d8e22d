package streamprobe

import (
	"encoding/json"
	"errors"
	"time"
)

// Errors that end a stream abnormally, for errors.Is.
var (
	// ErrStalled: no progress for Config.IdleTimeout.
	ErrStalled = errors.New("streamprobe: stream stalled")
	// ErrReset: the connection was reset by the peer or the network.
	ErrReset = errors.New("streamprobe: connection reset")
	// ErrIncomplete: the stream ended without the sender's end record.
	ErrIncomplete = errors.New("streamprobe: stream ended before its end record")
	// ErrMismatch: the end record's counts or SHA-256 differ from what was
	// received.
	ErrMismatch = errors.New("streamprobe: received data differs from sent data")
)

// Role says which end a report is from.
type Role string

// Roles.
const (
	RoleSend Role = "send"
	RoleRecv Role = "recv"
)

// Gap is a pause in delivery longer than the threshold.
type Gap struct {
	// Start is when the last record before the gap arrived.
	Start time.Time `json:"start"`
	// OffsetMS is Start relative to the stream's start.
	OffsetMS float64 `json:"offset_ms"`
	// DurationMS is the length of the pause.
	DurationMS float64 `json:"duration_ms"`
	// AfterSeq and BeforeSeq are the records around the gap (BeforeSeq is
	// zero for an open gap).
	AfterSeq  uint64 `json:"after_seq"`
	BeforeSeq uint64 `json:"before_seq,omitempty"`
	// Open is true when nothing arrived after the gap until the stream
	// ended.
	Open bool `json:"open,omitempty"`
}

// Latency summarises one-way delay (send timestamp to arrival).
type Latency struct {
	MinMS float64 `json:"min_ms"`
	AvgMS float64 `json:"avg_ms"`
	MaxMS float64 `json:"max_ms"`
}

// Report is what one end saw of a stream. It encodes to JSON.
type Report struct {
	Role       Role      `json:"role"`
	Network    string    `json:"network"`
	Local      string    `json:"local,omitempty"`
	Remote     string    `json:"remote,omitempty"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	DurationMS float64   `json:"duration_ms"`
	IntervalMS float64   `json:"interval_ms,omitempty"`
	RecordSize int       `json:"record_size,omitempty"`

	Bytes   uint64 `json:"bytes"`
	Records uint64 `json:"records"`
	SHA256  string `json:"sha256"`

	// Complete: the sender sent its end record / the receiver got it.
	Complete bool `json:"complete"`
	// Verified: the receiver's bytes, records and SHA-256 equal the
	// sender's end record.
	Verified    bool   `json:"verified"`
	PeerBytes   uint64 `json:"peer_bytes,omitempty"`
	PeerRecords uint64 `json:"peer_records,omitempty"`
	PeerSHA256  string `json:"peer_sha256,omitempty"`

	Missing   uint64 `json:"missing"`
	Reordered uint64 `json:"reordered"`
	Duplicate uint64 `json:"duplicate"`
	Corrupt   uint64 `json:"corrupt"`
	// SendErrors counts datagrams the sender could not send (UDP).
	SendErrors uint64 `json:"send_errors,omitempty"`
	Resets     uint64 `json:"resets"`
	Stalled    bool   `json:"stalled"`
	Error      string `json:"error,omitempty"`

	GapThresholdMS float64  `json:"gap_threshold_ms"`
	Gaps           []Gap    `json:"gaps"`
	MaxGapMS       float64  `json:"max_gap_ms"`
	Latency        *Latency `json:"latency,omitempty"`
}

// Broken reports whether the stream did not come through intact: it was
// reset, stalled, failed, lost or damaged data, or ended early.
func (r *Report) Broken() bool {
	return r.Resets > 0 || r.Stalled || r.Error != "" || !r.Complete ||
		r.Missing > 0 || r.Corrupt > 0 || (r.Role == RoleRecv && !r.Verified)
}

// JSON returns the report as indented JSON.
func (r *Report) JSON() []byte {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil { // only unsupported types fail, and Report has none
		panic(err)
	}
	return b
}

// Progress is a snapshot of a running probe.
type Progress struct {
	Role    Role
	Elapsed time.Duration
	Bytes   uint64
	Records uint64
	// SinceLast is the time since the last record was sent or received.
	SinceLast time.Duration
	// RateBps is the throughput since the previous snapshot, bits/s.
	RateBps float64
	Gaps    int
	MaxGap  time.Duration
	Missing uint64
	Done    bool
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
