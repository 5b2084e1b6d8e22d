// Package binding is homeip's control protocol (enroll, register, binding
// update/ack, deregister, switch, heartbeat) and the home agent's binding
// cache: device to care-of addresses, sequence number, lifetime and expiry.
// Everything the home agent and the mobile node must agree on lives here:
// the messages and their framing, the ALPN and default port, the TLS
// identity helpers and the enrolment token format. It uses the standard
// library only and opens no sockets.
//
// # Transport
//
// Control runs over one bidirectional QUIC stream (TLS 1.3, ALPN
// "homeip/1", DefaultPort 51830/udp shared with WireGuard). The device
// opens the stream and sends Enroll (first contact, with a new identity
// key) or Register (every later connection); afterwards it sends
// BindingUpdate, Heartbeat and Deregister, and the home agent sends
// acknowledgements, Heartbeat, Switch and Deregister. Each message is one
// frame:
//
//	 0       1       2       3
//	+-------+-------+-------+-------+
//	|Version| Type  |  Body length  |   Version = 1; length big-endian,
//	+-------+-------+-------+-------+   body only (0–65535)
//	|  Body ...                     |
//
// Rules for receivers:
//
//   - Version other than 1: reject (ErrVersion) and close the stream.
//   - Frame longer than the reader's limit (DefaultMaxFrame = 8192 bytes):
//     reject (ErrFrameTooLarge) and close the stream.
//   - Unknown Type: skip the frame (ErrUnknownType from ReadMessage; the
//     stream stays in sync). Senders must not rely on a new type being
//     understood by an old peer.
//   - Bytes after the last field this version knows: ignored. Later
//     revisions of version 1 only append fields; incompatible changes bump
//     Version.
//   - Reserved flag bits: senders set 0, receivers ignore them (they
//     survive a decode/encode round trip). Unknown Status, Kind and
//     SwitchReason values are carried unchanged.
//   - Anything else that breaks the tables below — truncated fields, an
//     unknown address family, invalid UTF-8, a list longer than its limit,
//     a prefix with host bits set — is ErrMalformed; a request that cannot
//     be decoded is answered with StatusMalformed where the type is known.
//
// # Field encodings
//
// All integers are unsigned big-endian. u8/u16/u32/u64 are 1, 2, 4, 8
// bytes. Other field kinds:
//
//	str       u8 length, then that many bytes of UTF-8 (0–255 bytes)
//	secs      u32 whole seconds (time.Duration; sub-second part dropped)
//	key       32 bytes (WireGuard Curve25519 key or SHA-256 fingerprint)
//	addr      u8 family, then the address: 0 = none (0 bytes),
//	          4 = IPv4 (4 bytes), 6 = IPv6 (16 bytes). No zones.
//	addrport  addr, then u16 port if family ≠ 0
//	prefix    addr (family 4 or 6), then u8 prefix length; host bits zero
//	list<T>   u8 count, then count elements
//
// # Messages
//
// Register (type 1), device → home agent:
//
//	DeviceID      str        id from EnrollAck; may be empty
//	WGPublicKey   key        device's WireGuard public key
//	Lifetime      secs       requested registration lifetime
//	Software      str        client name/version, informational
//
// RegisterAck (type 2), home agent → device:
//
//	Status        u8         see Status
//	DeviceID      str
//	VIP4          addr       device's IPv4 virtual address, or none
//	VIP6          addr       device's IPv6 virtual address, or none
//	HATunnel4     addr       home agent's tunnel address, or none
//	HATunnel6     addr
//	HAPublicKey   key        home agent's WireGuard public key
//	DataEndpoint  addrport   WireGuard endpoint; none = control address
//	DNS           list<addr> at most 8, no "none"
//	SearchDomain  str
//	Routes        list<prefix> at most 255
//	Lifetime      secs       granted
//	Keepalive     secs       initial keepalive interval
//	MTU           u16        0 = device chooses
//
// BindingUpdate (type 3), device → home agent (RFC 6275 §6.1.7,
// RFC 5648):
//
//	Sequence      u16        compared modulo 2^16 (SeqNewer)
//	Flags         u8         0x01 A: ack requested  0x02 H: home
//	                         registration  0x04 D: deregister
//	                         0x08 O: overwrite (listed set is complete)
//	Lifetime      secs       requested; 0 deregisters
//	Via           u16        binding id of the path this update is sent on
//	Entries       list<CareOf> at most 16:
//	  BID         u16        binding id, one per interface
//	  Kind        u8         0 unknown 1 ethernet 2 wifi 3 cellular 4 other
//	  Priority    u8         highest observed entry is primary
//	  Flags       u8         0x01 R: remove this binding id
//	  Local       addrport   address seen locally (informational)
//	PathMTU       u16        optional (appended): largest inner packet the
//	                         path carries as the device knows it; absent
//	                         or 0 = unknown
//
// BindingAck (type 4), home agent → device:
//
//	Status        u8
//	Sequence      u16        answered; on stale/rate limited the current
//	Lifetime      secs       granted; 0 if removed or rejected
//	Observed      addrport   source the update was seen from, or none
//	Entries       list<EntryStatus> at most 16:
//	  BID         u16
//	  Status      u8
//	  Flags       u8         0x01 primary  0x02 observed
//
// Deregister (type 5), either direction:
//
//	Status        u8         accepted (goodbye) or the reason (revoked …)
//	Reason        str
//
// Switch (type 6), home agent → device (RFC 5142):
//
//	Addrs         list<addrport> 1–8, other home agent's control addresses
//	Fingerprint   key        SHA-256 of its certificate, to pin
//	Reason        u8         0 unspecified 1 maintenance 2 overload
//	                         3 shutdown
//	Deadline      secs       time before this home agent closes; 0 = none
//
// Enroll (type 7), device → home agent:
//
//	Token         16 bytes   one-time secret from the enrolment token
//	WGPublicKey   key
//	Hostname      str        informational
//
// EnrollAck (type 8), home agent → device:
//
//	Status        u8         accepted, bad token, …
//	DeviceID      str
//	DeviceName    str
//
// Heartbeat (type 9) and HeartbeatAck (type 10), either direction:
//
//	Nonce         u64        echoed
//	Time          u64        sender's timestamp, echoed (two's complement)
//	Observed      addrport   HeartbeatAck only: source the probe came from
//
// Status codes below 128 are success (0 accepted, 1 lifetime shortened);
// 128 and above are rejections (see the Status constants). A rejecting
// ack has zero lifetime.
//
// # Decoding into reused values
//
// Reader.Next reads one frame into a buffer the Reader owns; Reader.Decode
// fills a message value, truncating and reusing its slices, and keeps a
// string field when the bytes are equal, so a BindingUpdate decodes with
// no allocation. On error the value's content is unspecified.
//
// # Identity and enrolment
//
// Both sides use self-signed ed25519 certificates (SelfSignedCert; a pure
// function of key and name, so a fingerprint survives restarts). The
// device pins the home agent's certificate by SHA-256 fingerprint
// (ClientTLSConfig, PinVerifier; printable form "sha256:" + base64url,
// Fingerprint/ParseFingerprint). The home agent requires a client
// certificate (ServerTLSConfig) and reads the device's identity key with
// PeerPublicKey. An enrolment Token (EncodeToken/ParseToken, "hip1-…")
// carries the home agent's addresses, its fingerprint and the one-time
// secret the device sends in Enroll.
//
// # Binding cache
//
// Cache holds, per device, its care-of entries (binding id, kind,
// priority, observed and local address, last seen), the last accepted
// sequence number and the expiry time. Cache.Apply is the pure decision on
// a BindingUpdate: validate, compare sequence numbers (SeqNewer), bound
// the number of entries, cap the lifetime, then update the entries — the
// entry named by Via takes the observed source address as its care-of
// address — and choose the primary: the observed entry with the highest
// priority, then the most recently seen, then the lowest binding id. A
// rejected update changes nothing.
//
// Rate limiting is not the cache's: a binding comes and goes (expiry,
// deregistration), and a limit kept with it would start afresh each time.
// Limiter is the per-device token bucket (one GCRA timestamp) the home
// agent keeps with the device and applies to every message type.
//
// Concurrency: 64 shards chosen by a keyed hash of the device name, each
// with a mutex, a map and a lazy binary min-heap of expiry times: Expire
// pops heads of the heaps only (O(k log n) for k expired bindings), and a
// refresh that extends a lifetime does no heap work at all (see
// expiryHeap). Run calls Expire every Config.SweepInterval with the
// injected clock.
//
// The cache calls nothing back and holds no lock of its own while its
// caller works: ApplyInto, Remove and Expire return their changes as
// Events, and the caller applies them — re-pointing the data plane before
// it sends the ack (DESIGN.md: re-point before acknowledging) — after the
// call returned. Ordering one device's events is the caller's: the home
// agent serialises each device's updates, removals and the application of
// their events under a per-device lock.
//
// Measured with go test -run '^$' -bench . -cpu 1 ./binding on the shared
// 2-core development VM (wall-clock figures vary with the neighbours'
// load, so the Apply benchmark also reports process CPU time): Apply
// against 1M devices, each update refreshing another device with an
// advancing clock, costs ≈ 0.5 µs of CPU (≈ 2M updates per core-second;
// 0.8–1.5M/s wall clock) with 0 allocations (ApplyInto); ≈ 240 bytes of
// heap per binding with one care-of entry, device name excluded; a
// BindingUpdate with three entries encodes in ≈ 115–140 ns and decodes in
// ≈ 175–220 ns, both with 0 allocations.
package binding
