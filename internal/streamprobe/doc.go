// Package streamprobe measures whether a stream survives the network
// under it: a sender writes numbered, timestamped records at a fixed
// interval over TCP (or UDP), and a receiver checks them and reports
// bytes, records, a running SHA-256 over every byte, resets and errors,
// missing, reordered and duplicated records (UDP), and every delivery gap
// longer than a threshold with its start time and duration (to about a
// millisecond).
//
// Either end may be the TCP listener or the dialer, independent of which
// one sends. Over UDP the dialing end speaks first: a dialing receiver
// sends hello records until data arrives, so a listening sender behind no
// NAT learns where to send.
//
// The sender ends a stream with an end record carrying its byte count,
// record count and SHA-256; the receiver compares them with its own
// (Report.Verified). One-way latency (receive time minus the record's send
// timestamp) is meaningful only when both ends share a clock, as the lab's
// namespaces do.
//
// The wire format of a record is in record.go.
package streamprobe
