package binding

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed seed corpus under testdata/fuzz")

// seedFrames returns the frames that seed the fuzz target for type t:
// every sample of that type, plus truncations and bit flips of them.
func seedFrames(t Type) [][]byte {
	var out [][]byte
	for _, m := range samples() {
		if m.Type() != t {
			continue
		}
		b, err := Marshal(m)
		if err != nil {
			panic(err)
		}
		out = append(out, b, b[:len(b)/2], append(append([]byte(nil), b...), 0xde, 0xad))
		flipped := append([]byte(nil), b...)
		flipped[len(flipped)-1] ^= 0x80
		out = append(out, flipped)
	}
	return out
}

// fuzzDecode checks one decoder: no panic on any input, and whatever
// decodes re-encodes, decodes to the same value and re-encodes to the same
// bytes. It also decodes into a value that held other data, which must
// give the same result as a fresh one.
func fuzzDecode(f *testing.F, t Type) {
	for _, b := range seedFrames(t) {
		f.Add(b)
	}
	f.Fuzz(func(tt *testing.T, frame []byte) {
		m := New(t)
		if err := Unmarshal(frame, m); err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrTypeMismatch) {
				tt.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		enc, err := Marshal(m)
		if err != nil {
			tt.Fatalf("decoded value does not encode: %v (%+v)", err, m)
		}
		m2 := New(t)
		if err := Unmarshal(enc, m2); err != nil {
			tt.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(m), normalize(m2)) {
			tt.Fatalf("round trip changed the value:\n%+v\n%+v", m, m2)
		}
		enc2, _ := Marshal(m2)
		if !bytes.Equal(enc, enc2) {
			tt.Fatalf("encoding not stable:\n% x\n% x", enc, enc2)
		}
		for _, s := range samples() {
			if s.Type() != t {
				continue
			}
			reused := New(t)
			b, _ := Marshal(s)
			if err := Unmarshal(b, reused); err != nil {
				tt.Fatal(err)
			}
			if err := Unmarshal(frame, reused); err != nil {
				tt.Fatalf("second decode failed: %v", err)
			}
			if !reflect.DeepEqual(normalize(reused), normalize(m)) {
				tt.Fatalf("decoding into a reused value kept old data:\n%+v\n%+v", reused, m)
			}
		}
	})
}

func FuzzRegister(f *testing.F)      { fuzzDecode(f, TypeRegister) }
func FuzzRegisterAck(f *testing.F)   { fuzzDecode(f, TypeRegisterAck) }
func FuzzBindingUpdate(f *testing.F) { fuzzDecode(f, TypeBindingUpdate) }
func FuzzBindingAck(f *testing.F)    { fuzzDecode(f, TypeBindingAck) }
func FuzzDeregister(f *testing.F)    { fuzzDecode(f, TypeDeregister) }
func FuzzSwitch(f *testing.F)        { fuzzDecode(f, TypeSwitch) }
func FuzzEnroll(f *testing.F)        { fuzzDecode(f, TypeEnroll) }
func FuzzEnrollAck(f *testing.F)     { fuzzDecode(f, TypeEnrollAck) }
func FuzzHeartbeat(f *testing.F)     { fuzzDecode(f, TypeHeartbeat) }
func FuzzHeartbeatAck(f *testing.F)  { fuzzDecode(f, TypeHeartbeatAck) }

func streamSeed() []byte {
	var buf bytes.Buffer
	for _, m := range samples() {
		WriteMessage(&buf, m)
	}
	buf.Write([]byte{Version, 200, 0, 1, 0})
	return buf.Bytes()
}

// FuzzReader feeds arbitrary streams to the Reader: it must never panic,
// never return a message that does not round-trip, and stop at the first
// fatal error.
func FuzzReader(f *testing.F) {
	f.Add(streamSeed())
	f.Add([]byte{Version, 3, 0xff, 0xff})
	f.Add([]byte{2, 3, 0, 0})
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := NewReader(bytes.NewReader(stream), 1024)
		for range 1000 {
			m, err := r.ReadMessage()
			if err == io.EOF {
				return
			}
			if errors.Is(err, ErrUnknownType) || errors.Is(err, ErrMalformed) {
				continue // frame consumed; the stream stays in sync
			}
			if err != nil {
				return
			}
			b, err := Marshal(m)
			if err != nil {
				t.Fatalf("decoded %v does not encode: %v", m.Type(), err)
			}
			m2 := New(m.Type())
			if err := Unmarshal(b, m2); err != nil || !reflect.DeepEqual(normalize(m), normalize(m2)) {
				t.Fatalf("round trip of %v: %v", m.Type(), err)
			}
		}
	})
}

func FuzzParseToken(f *testing.F) {
	s, _ := EncodeToken(sampleToken())
	f.Add(s)
	f.Add("hip1-")
	f.Add(s[:len(s)-2])
	f.Add("HIP1-" + s[5:])
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrTokenFormat) && !errors.Is(err, ErrTokenChecksum) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		enc, err := EncodeToken(tok)
		if err != nil {
			t.Fatalf("parsed token does not encode: %v", err)
		}
		tok2, err := ParseToken(enc)
		if err != nil || !reflect.DeepEqual(tok, tok2) {
			t.Fatalf("round trip: %+v %+v %v", tok, tok2, err)
		}
	})
}

func FuzzParseFingerprint(f *testing.F) {
	f.Add(FormatFingerprint(key(1)))
	f.Add("sha256:")
	f.Add("sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		fp2, err := ParseFingerprint(FormatFingerprint(fp))
		if err != nil || fp != fp2 {
			t.Fatalf("round trip of %q: %v", s, err)
		}
	})
}

// FuzzApply runs decoded binding updates from arbitrary bytes through the
// cache and checks its invariants after each.
func FuzzApply(f *testing.F) {
	for _, b := range seedFrames(TypeBindingUpdate) {
		f.Add(b, uint16(40000), uint8(0))
	}
	f.Fuzz(func(t *testing.T, frame []byte, port uint16, step uint8) {
		var bu BindingUpdate
		if Unmarshal(frame, &bu) != nil {
			return
		}
		c := NewCache(Config{MaxCareOf: 3, MaxLifetime: time.Minute})
		now := t0
		for i := range 4 {
			obs := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), port)
			ack, err := c.Apply(now, "d", &bu, obs)
			if (err == nil) != ack.Status.OK() {
				t.Fatalf("ack %v but err %v", ack.Status, err)
			}
			b, ok := c.Lookup("d")
			if ok {
				if len(b.Entries) > 3 || !b.Primary.IsValid() || b.Expires.After(now.Add(time.Minute)) {
					t.Fatalf("invariant broken: %+v", b)
				}
				np := 0
				for _, e := range b.Entries {
					if e.Primary {
						np++
					}
				}
				if np != 1 {
					t.Fatalf("%d primaries", np)
				}
			}
			bu.Sequence += uint16(step)
			now = now.Add(time.Duration(step) * time.Second)
			c.Expire(now, nil)
		}
	})
}

// TestWriteSeedCorpus rewrites testdata/fuzz from the seeds above when
// run with -update-corpus; otherwise it checks the corpus is present.
func TestWriteSeedCorpus(t *testing.T) {
	targets := map[string][][]byte{}
	for ty := TypeRegister; ty <= TypeHeartbeatAck; ty++ {
		targets["Fuzz"+ty.String()] = seedFrames(ty)
	}
	targets["FuzzReader"] = [][]byte{streamSeed()}
	for name, seeds := range targets {
		dir := filepath.Join("testdata", "fuzz", name)
		if !*updateCorpus {
			if ents, err := os.ReadDir(dir); err != nil || len(ents) == 0 {
				t.Errorf("no committed seed corpus in %s (run go test -run TestWriteSeedCorpus -update-corpus)", dir)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, b := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !*updateCorpus {
		return
	}
	tokDir := filepath.Join("testdata", "fuzz", "FuzzParseToken")
	os.MkdirAll(tokDir, 0o755)
	s, _ := EncodeToken(sampleToken())
	for i, in := range []string{s, "HIP1-" + s[5:], s[:len(s)-2], "hip1-aaaa-bbbb"} {
		os.WriteFile(filepath.Join(tokDir, fmt.Sprintf("seed-%02d", i)), []byte(fmt.Sprintf("go test fuzz v1\nstring(%q)\n", in)), 0o644)
	}
	fpDir := filepath.Join("testdata", "fuzz", "FuzzParseFingerprint")
	os.MkdirAll(fpDir, 0o755)
	os.WriteFile(filepath.Join(fpDir, "seed-00"), []byte(fmt.Sprintf("go test fuzz v1\nstring(%q)\n", FormatFingerprint(key(1)))), 0o644)
	appDir := filepath.Join("testdata", "fuzz", "FuzzApply")
	os.MkdirAll(appDir, 0o755)
	for i, b := range seedFrames(TypeBindingUpdate) {
		os.WriteFile(filepath.Join(appDir, fmt.Sprintf("seed-%02d", i)), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(%d)\nbyte(%q)\n", b, 40000+i, byte(i))), 0o644)
	}
}
