package streamprobe

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func mustAppend(t testing.TB, r Record) []byte {
	t.Helper()
	b, err := Append(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecordRoundTrip(t *testing.T) {
	payload := make([]byte, 100)
	FillPattern(payload, 7)
	end := EndInfo{Bytes: 12345, Records: 67, SHA256: [32]byte{1, 2, 3}}
	cases := []Record{
		{Kind: KindData, Seq: 7, Sent: time.Unix(0, 1_700_000_000_123_456_789), Payload: payload},
		{Kind: KindData, Seq: 0, Sent: time.Unix(0, 0), Payload: []byte{}},
		{Kind: KindHello, Seq: 0, Sent: time.Unix(0, 5), Payload: []byte{}},
		{Kind: KindEnd, Seq: 67, Sent: time.Unix(0, 99), Payload: end.AppendEnd(nil)},
	}
	for _, c := range cases {
		b := mustAppend(t, c)
		got, n, err := Decode(append(b, 0xff)) // trailing bytes belong to the next record
		if err != nil {
			t.Fatalf("%v: decode: %v", c.Kind, err)
		}
		if n != len(b) || got.Kind != c.Kind || got.Seq != c.Seq || !got.Sent.Equal(c.Sent) || !bytes.Equal(got.Payload, c.Payload) {
			t.Fatalf("%v: round trip: got %+v (n=%d), want %+v", c.Kind, got, n, c)
		}
		if c.Kind == KindEnd {
			info, err := ParseEnd(got.Payload)
			if err != nil || info != end {
				t.Fatalf("end info %+v, %v; want %+v", info, err, end)
			}
		}
		if c.Kind == KindData && !patternOK(got.Payload, c.Seq) {
			t.Fatal("pattern check failed on an intact payload")
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := mustAppend(t, Record{Kind: KindData, Seq: 1, Payload: make([]byte, 10)})
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := map[string][]byte{
		"empty":        nil,
		"short header": good[:HeaderSize-1],
		"truncated":    good[:len(good)-1],
		"magic":        mut(func(b []byte) []byte { b[0] ^= 1; return b }),
		"version":      mut(func(b []byte) []byte { b[4] = 9; return b }),
		"kind":         mut(func(b []byte) []byte { b[5] = 0; return b }),
		"reserved":     mut(func(b []byte) []byte { b[7] = 1; return b }),
		"length small": mut(func(b []byte) []byte { b[11] = 3; return b }),
		"hello length": mut(func(b []byte) []byte { b[5] = byte(KindHello); return b }),
		"end length":   mut(func(b []byte) []byte { b[5] = byte(KindEnd); return b }),
		"length huge":  mut(func(b []byte) []byte { b[8] = 0xff; return b }),
	}
	for name, b := range cases {
		if _, _, err := Decode(b); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: Decode = %v, want ErrBadRecord", name, err)
		}
	}
	if _, err := Append(nil, Record{Kind: KindData, Payload: make([]byte, MaxRecordSize)}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("oversized Append = %v", err)
	}
	if _, err := Append(nil, Record{Kind: KindHello, Payload: []byte{1}}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("hello with payload Append = %v", err)
	}
	if _, err := Append(nil, Record{Kind: 42}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("unknown kind Append = %v", err)
	}
	if _, err := ParseEnd([]byte{1, 2}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("short end payload = %v", err)
	}
	p := make([]byte, 50)
	FillPattern(p, 3)
	p[10] ^= 1
	if patternOK(p, 3) {
		t.Error("pattern check missed a flipped bit")
	}
}

// FuzzDecode checks that Decode never panics and that whatever it accepts
// re-encodes to exactly the bytes it consumed.
func FuzzDecode(f *testing.F) {
	f.Add(mustAppend(f, Record{Kind: KindData, Seq: 3, Sent: time.Unix(0, 42), Payload: []byte("payload")}))
	f.Add(mustAppend(f, Record{Kind: KindHello}))
	f.Add(mustAppend(f, Record{Kind: KindEnd, Seq: 9, Payload: EndInfo{Bytes: 1, Records: 2}.AppendEnd(nil)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error %v does not wrap ErrBadRecord", err)
			}
			return
		}
		if n < HeaderSize || n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		again, err := Append(nil, rec)
		if err != nil {
			t.Fatalf("re-encoding an accepted record: %v", err)
		}
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("round trip differs:\n in  %x\n out %x", b[:n], again)
		}
		if rec.Kind == KindEnd {
			info, err := ParseEnd(rec.Payload)
			if err != nil {
				t.Fatalf("accepted end record with bad payload: %v", err)
			}
			if !bytes.Equal(info.AppendEnd(nil), rec.Payload) {
				t.Fatal("end info round trip differs")
			}
		}
	})
}
