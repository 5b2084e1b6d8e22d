package binding

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func key(b byte) (k [32]byte) {
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

// samples returns one filled value of every message type; they seed the
// fuzz corpus too.
func samples() []Message {
	return []Message{
		&Register{DeviceID: "dev-1", WGPublicKey: key(1), Lifetime: 10 * time.Minute, Software: "mnode/0.1"},
		&Register{},
		&RegisterAck{
			Status: StatusAccepted, DeviceID: "dev-1",
			VIP4: netip.MustParseAddr("10.77.0.2"), VIP6: netip.MustParseAddr("fd77::2"),
			HATunnel4: netip.MustParseAddr("10.77.0.1"), HATunnel6: netip.MustParseAddr("fd77::1"),
			HAPublicKey:  key(2),
			DataEndpoint: netip.MustParseAddrPort("[2001:db8::1]:51830"),
			DNS:          []netip.Addr{netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd77::1")},
			SearchDomain: "home.example",
			Routes:       []netip.Prefix{netip.MustParsePrefix("10.77.0.0/16"), netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("fd77::/64")},
			Lifetime:     time.Hour, Keepalive: 25 * time.Second, MTU: 1420,
		},
		&RegisterAck{Status: StatusNoAddress},
		&BindingUpdate{Sequence: 7, Flags: FlagAck | FlagHome, Lifetime: 5 * time.Minute, Via: 1, Entries: []CareOf{
			{BID: 1, Kind: KindWiFi, Priority: 10, Local: netip.MustParseAddrPort("192.168.1.20:51830")},
			{BID: 2, Kind: KindCellular, Priority: 5, Local: netip.MustParseAddrPort("[2001:db8:2::7]:40000")},
			{BID: 3, Flags: EntryRemove},
		}},
		&BindingUpdate{Sequence: 65535, Flags: FlagDeregister},
		&BindingUpdate{Sequence: 8, Flags: FlagAck, Lifetime: time.Minute, Via: 4, Entries: []CareOf{{BID: 4, Kind: KindCellular, Priority: 200}}, PathMTU: 1220},
		&BindingAck{Status: StatusStaleSequence, Sequence: 15},
		&BindingAck{Status: StatusLifetimeShortened, Sequence: 8, Lifetime: time.Minute,
			Observed: netip.MustParseAddrPort("198.51.100.7:1024"),
			Entries:  []EntryStatus{{BID: 1, Status: StatusAccepted, Flags: EntryPrimary | EntryObserved}, {BID: 2}}},
		&Deregister{Status: StatusRevoked, Reason: "revoked by admin"},
		&Deregister{},
		&Switch{Addrs: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.2:51830"), netip.MustParseAddrPort("[2001:db8::2]:51830")},
			Fingerprint: key(3), Reason: SwitchMaintenance, Deadline: 30 * time.Second},
		&Enroll{Token: [SecretSize]byte{1, 2, 3}, WGPublicKey: key(4), Hostname: "laptop"},
		&EnrollAck{Status: StatusAccepted, DeviceID: "d-42", DeviceName: "alice-laptop"},
		&EnrollAck{Status: StatusBadToken},
		&Heartbeat{Nonce: 99, Time: -5},
		&HeartbeatAck{Nonce: 99, Time: 1234567890123, Observed: netip.MustParseAddrPort("100.64.3.4:6000")},
	}
}

// normalize maps nil and empty slices to the same thing so that values
// compare after a round trip.
func normalize(m Message) Message {
	switch v := m.(type) {
	case *BindingUpdate:
		if len(v.Entries) == 0 {
			v.Entries = nil
		}
	case *BindingAck:
		if len(v.Entries) == 0 {
			v.Entries = nil
		}
	case *RegisterAck:
		if len(v.DNS) == 0 {
			v.DNS = nil
		}
		if len(v.Routes) == 0 {
			v.Routes = nil
		}
	case *Switch:
		if len(v.Addrs) == 0 {
			v.Addrs = nil
		}
	}
	return m
}

func TestRoundTripAllMessages(t *testing.T) {
	for _, m := range samples() {
		t.Run(m.Type().String(), func(t *testing.T) {
			b, err := Marshal(m)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			got := New(m.Type())
			if err := Unmarshal(b, got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(m)) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
			}
		})
	}
}

func TestFrameHeader(t *testing.T) {
	b, err := Marshal(&Heartbeat{Nonce: 1, Time: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{Version, byte(TypeHeartbeat), 0, 16, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2}
	if !bytes.Equal(b, want) {
		t.Fatalf("frame = % x, want % x", b, want)
	}
}

func TestEncodeRejectsBadValues(t *testing.T) {
	long := strings.Repeat("x", 256)
	cases := []struct {
		name string
		m    Message
	}{
		{"long string", &Register{DeviceID: long}},
		{"invalid utf8", &EnrollAck{DeviceName: "\xff"}},
		{"negative lifetime", &BindingUpdate{Lifetime: -time.Second}},
		{"huge lifetime", &BindingUpdate{Lifetime: 1 << 62}},
		{"too many entries", &BindingUpdate{Entries: make([]CareOf, MaxCareOfEntries+1)}},
		{"zoned address", &HeartbeatAck{Observed: netip.MustParseAddrPort("[fe80::1%eth0]:1")}},
		{"unmasked route", &RegisterAck{Routes: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")}}},
		{"zero route", &RegisterAck{Routes: []netip.Prefix{{}}}},
		{"zero dns", &RegisterAck{DNS: []netip.Addr{{}}}},
		{"switch without address", &Switch{}},
		{"switch zero address", &Switch{Addrs: []netip.AddrPort{{}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prefix := []byte("keep")
			b, err := AppendFrame(prefix, c.m)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("AppendFrame error = %v, want ErrInvalid", err)
			}
			if string(b) != "keep" {
				t.Fatalf("AppendFrame changed the buffer on error: %q", b)
			}
		})
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	good, _ := Marshal(&BindingUpdate{Sequence: 1, Via: 1, Entries: []CareOf{{BID: 1, Local: netip.MustParseAddrPort("192.0.2.1:1")}}})
	frame := func(t Type, body ...byte) []byte {
		return append([]byte{Version, byte(t), byte(len(body) >> 8), byte(len(body))}, body...)
	}
	cases := []struct {
		name  string
		frame []byte
		m     Message
		want  error
	}{
		{"short header", []byte{1, 3}, &BindingUpdate{}, ErrMalformed},
		{"version", append([]byte{2}, good[1:]...), &BindingUpdate{}, ErrVersion},
		{"length mismatch", good[:len(good)-1], &BindingUpdate{}, ErrMalformed},
		{"unknown type", frame(200), &BindingUpdate{}, ErrUnknownType},
		{"type mismatch", good, &BindingAck{}, ErrTypeMismatch},
		{"truncated", frame(TypeBindingUpdate, 0, 1, 0), &BindingUpdate{}, ErrMalformed},
		{"bad family", frame(TypeHeartbeatAck, make([]byte, 16)[:16:16][0], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5), &HeartbeatAck{}, ErrMalformed},
		{"too many entries", frame(TypeBindingUpdate, 0, 1, 0, 0, 0, 0, 0, 0, 0, 17), &BindingUpdate{}, ErrMalformed},
		{"bad utf8", frame(TypeDeregister, 0, 1, 0xff), &Deregister{}, ErrMalformed},
		{"prefix host bits", frame(TypeRegisterAck, append(append([]byte{0, 0, 0, 0, 0, 0}, make([]byte, 32)...), 0, 0, 0, 1, 4, 10, 0, 0, 1, 8)...), &RegisterAck{}, ErrMalformed},
		{"prefix too long", frame(TypeRegisterAck, append(append([]byte{0, 0, 0, 0, 0, 0}, make([]byte, 32)...), 0, 0, 0, 1, 4, 10, 0, 0, 0, 33)...), &RegisterAck{}, ErrMalformed},
		{"switch empty", frame(TypeSwitch, 0), &Switch{}, ErrMalformed},
		{"switch zero addr", frame(TypeSwitch, 1, 0), &Switch{}, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Unmarshal(c.frame, c.m)
			if !errors.Is(err, c.want) {
				t.Fatalf("Unmarshal error = %v, want %v", err, c.want)
			}
		})
	}
}

// TestTrailingBytesIgnored: fields appended by a later revision of
// version 1 are skipped.
func TestTrailingBytesIgnored(t *testing.T) {
	b, _ := Marshal(&Heartbeat{Nonce: 5, Time: 6})
	b = append(b, 0xaa, 0xbb)
	b[3] += 2
	var hb Heartbeat
	if err := Unmarshal(b, &hb); err != nil {
		t.Fatal(err)
	}
	if hb != (Heartbeat{Nonce: 5, Time: 6}) {
		t.Fatalf("got %+v", hb)
	}
}

// TestBindingUpdatePathMTUOptional: an update from a device that does not
// send a path MTU (an older one) decodes with 0, and one with a path MTU
// decodes at a home agent that stops reading before it (an older one) as
// the same update without it.
func TestBindingUpdatePathMTUOptional(t *testing.T) {
	without := &BindingUpdate{Sequence: 3, Flags: FlagAck, Lifetime: time.Minute, Via: 1, Entries: []CareOf{{BID: 1, Priority: 1}}}
	b, err := Marshal(without)
	if err != nil {
		t.Fatal(err)
	}
	var got BindingUpdate
	if err := Unmarshal(b, &got); err != nil || got.PathMTU != 0 || got.Sequence != 3 {
		t.Fatalf("without a path MTU: %+v, %v", got, err)
	}
	with := *without
	with.PathMTU = 1400
	bw, err := Marshal(&with)
	if err != nil {
		t.Fatal(err)
	}
	if len(bw) != len(b)+2 {
		t.Fatalf("the path MTU takes %d bytes, want 2", len(bw)-len(b))
	}
	if err := Unmarshal(bw, &got); err != nil || got.PathMTU != 1400 {
		t.Fatalf("with a path MTU: %+v, %v", got, err)
	}
	// A truncated path MTU (one byte) is malformed, not silently 0.
	bad := append(bytes.Clone(b), 0x05)
	bad[3]++
	if err := Unmarshal(bad, &got); err == nil {
		t.Fatalf("one byte of path MTU accepted: %+v", got)
	}
}

func TestReaderStream(t *testing.T) {
	var buf bytes.Buffer
	msgs := samples()
	for i, m := range msgs {
		if err := WriteMessage(&buf, m); err != nil {
			t.Fatal(err)
		}
		if i == 3 { // an unknown type in the middle is skipped
			buf.Write([]byte{Version, 99, 0, 3, 1, 2, 3})
		}
	}
	r := NewReader(&buf, 0)
	var got []Message
	unknown := 0
	for {
		m, err := r.ReadMessage()
		if err == io.EOF {
			break
		}
		if errors.Is(err, ErrUnknownType) {
			unknown++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, normalize(m))
	}
	if unknown != 1 {
		t.Fatalf("unknown frames = %d, want 1", unknown)
	}
	if len(got) != len(msgs) {
		t.Fatalf("read %d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if !reflect.DeepEqual(got[i], normalize(msgs[i])) {
			t.Errorf("message %d: got %+v want %+v", i, got[i], msgs[i])
		}
	}
}

func TestReaderErrors(t *testing.T) {
	t.Run("too large", func(t *testing.T) {
		r := NewReader(bytes.NewReader([]byte{Version, 3, 0x10, 0}), 1024)
		if _, err := r.Next(); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("version", func(t *testing.T) {
		r := NewReader(bytes.NewReader([]byte{9, 3, 0, 0}), 0)
		if _, err := r.Next(); !errors.Is(err, ErrVersion) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("truncated body", func(t *testing.T) {
		r := NewReader(bytes.NewReader([]byte{Version, 9, 0, 16, 1}), 0)
		if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("truncated header", func(t *testing.T) {
		r := NewReader(bytes.NewReader([]byte{Version, 9}), 0)
		if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("decode without frame", func(t *testing.T) {
		r := NewReader(bytes.NewReader(nil), 0)
		if err := r.Decode(&Heartbeat{}); err == nil {
			t.Fatal("Decode succeeded without a frame")
		}
	})
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteMessageErrors(t *testing.T) {
	if err := WriteMessage(errWriter{}, &Heartbeat{}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("err = %v", err)
	}
	if err := WriteMessage(io.Discard, &Switch{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
}

func TestDecodeIntoReusedValueDoesNotAllocate(t *testing.T) {
	b, _ := Marshal(samples()[4])
	rd := bytes.NewReader(b)
	r := NewReader(rd, 0)
	var bu BindingUpdate
	allocs := testing.AllocsPerRun(100, func() {
		rd.Reset(b)
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		if err := r.Decode(&bu); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("decode allocated %.1f times per run", allocs)
	}
	if bu.Sequence != 7 || len(bu.Entries) != 3 {
		t.Fatalf("decoded %+v", bu)
	}
}

func TestStringsAndStatus(t *testing.T) {
	if TypeBindingUpdate.String() != "BindingUpdate" || Type(77).String() != "type(77)" {
		t.Error("Type.String")
	}
	if KindWiFi.String() != "wifi" || Kind(9).String() != "kind(9)" {
		t.Error("Kind.String")
	}
	if SwitchOverload.String() != "overload" || SwitchReason(9).String() != "reason(9)" {
		t.Error("SwitchReason.String")
	}
	for s := range 256 {
		st := Status(s)
		if st.String() == "" {
			t.Errorf("status %d has no name", s)
		}
		if st.OK() != (s < 128) {
			t.Errorf("status %d OK = %v", s, st.OK())
		}
		if err := st.Err("x"); (err == nil) != st.OK() {
			t.Errorf("status %d Err = %v", s, err)
		}
	}
	err := error(&Error{Status: StatusStaleSequence, Sequence: 15, Reason: "r"})
	if !errors.Is(err, ErrStaleSequence) || errors.Is(err, ErrRateLimited) {
		t.Error("Error.Is by status")
	}
	if got := err.Error(); got != "binding: stale sequence (current 15): r" {
		t.Errorf("Error() = %q", got)
	}
}

func TestAckErr(t *testing.T) {
	if (&BindingAck{Status: StatusLifetimeShortened}).Err() != nil {
		t.Error("success ack has an error")
	}
	err := (&BindingAck{Status: StatusStaleSequence, Sequence: 41}).Err()
	var be *Error
	if !errors.As(err, &be) || be.Sequence != 41 || !errors.Is(err, ErrStaleSequence) {
		t.Errorf("stale ack error %v", err)
	}
	if !errors.Is((&RegisterAck{Status: StatusNoAddress}).Err(), ErrNoAddress) ||
		!errors.Is((&EnrollAck{Status: StatusBadToken}).Err(), ErrBadToken) ||
		!errors.Is((&Deregister{Status: StatusRevoked}).Err(), ErrRevoked) ||
		(&Deregister{}).Err() != nil {
		t.Error("ack Err mapping")
	}
}

// TestLargestMessageFitsDefaultFrame builds the largest RegisterAck the
// format allows and checks a default Reader accepts it.
func TestLargestMessageFitsDefaultFrame(t *testing.T) {
	long := strings.Repeat("x", maxString)
	m := &RegisterAck{DeviceID: long, SearchDomain: long,
		VIP4: netip.MustParseAddr("10.0.0.1"), VIP6: netip.MustParseAddr("fd00::1"),
		HATunnel4: netip.MustParseAddr("10.0.0.2"), HATunnel6: netip.MustParseAddr("fd00::2"),
		DataEndpoint: netip.MustParseAddrPort("[2001:db8::1]:1")}
	for i := range MaxAddrs {
		m.DNS = append(m.DNS, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}))
	}
	for i := range MaxRoutes {
		m.Routes = append(m.Routes, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i)}), 48))
	}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > DefaultMaxFrame {
		t.Fatalf("largest RegisterAck is %d bytes, DefaultMaxFrame %d", len(b), DefaultMaxFrame)
	}
	if _, err := NewReader(bytes.NewReader(b), 0).ReadMessage(); err != nil {
		t.Fatal(err)
	}
	t.Logf("largest RegisterAck: %d bytes", len(b))
}
