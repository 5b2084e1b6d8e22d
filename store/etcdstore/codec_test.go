package etcdstore

import (
	"errors"
	"testing"
	"time"

	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/storetest"
)

func TestCodecRoundTrip(t *testing.T) {
	d := storetest.NewDevice("dev/ä")
	d.IdentityKey = storetest.Key("x")
	d.WGKey = storetest.WGKey("x")
	d.Enrolled = time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	got, err := decodeDevice(encodeDevice(d))
	if err != nil || !got.Equal(d) {
		t.Fatalf("device round trip: %+v, %v; want %+v", got, err, d)
	}
	id, at, err := decodeHolder("lease", encodeHolder("a", t0))
	if err != nil || id != "a" || !at.Equal(t0) {
		t.Fatalf("holder round trip: %q %v %v", id, at, err)
	}
	_, tok, _ := store.NewToken("a", t0, time.Hour)
	tok.Used = t0.Add(time.Minute)
	gt, err := decodeToken(tok.Hash, encodeToken(tok))
	if err != nil || gt.DeviceID != "a" || !gt.Expires.Equal(tok.Expires) || !gt.Used.Equal(tok.Used) || gt.Hash != tok.Hash {
		t.Fatalf("token round trip: %+v, %v", gt, err)
	}
}

func TestCodecStrict(t *testing.T) {
	for name, rec := range map[string]string{
		"empty":          ``,
		"not JSON":       `dev`,
		"unknown field":  `{"v":1,"id":"a","name":"n","colour":"red"}`,
		"newer version":  `{"v":2,"id":"a","name":"n"}`,
		"no version":     `{"id":"a","name":"n"}`,
		"trailing data":  `{"v":1,"id":"a","name":"n"}{}`,
		"empty name":     `{"v":1,"id":"a","name":""}`,
		"short WG key":   `{"v":1,"id":"a","name":"n","wgkey":"AAAA"}`,
		"short identity": `{"v":1,"id":"a","name":"n","ikey":"AAAA"}`,
		"bad time":       `{"v":1,"id":"a","name":"n","created":"yesterday"}`,
		"year 10000 UTC": `{"v":1,"id":"a","name":"n","created":"9999-12-31T23:00:00-02:00"}`,
	} {
		if _, err := decodeDevice([]byte(rec)); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s: decodeDevice = %v, want ErrCorrupt", name, err)
		}
	}
	for name, rec := range map[string]string{
		"empty id": `{"v":1,"dev":"","at":"2026-01-01T00:00:00Z"}`,
		"NUL id":   `{"v":1,"dev":"a\u0000b"}`,
		"extra":    `{"v":1,"dev":"a","addr":"10.0.0.1"}`,
	} {
		if _, _, err := decodeHolder("lease", []byte(rec)); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s: decodeHolder = %v, want ErrCorrupt", name, err)
		}
	}
	for _, k := range []string{"10.0.0.010", "::ffff:10.0.0.1", "fe80::1%eth0", "FD00::1", ""} {
		if _, err := parseAddr(k); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("parseAddr(%q) = %v, want ErrCorrupt", k, err)
		}
	}
}

// FuzzDecode: the decoders never panic, and whatever they accept encodes
// back to a record that decodes to the same value.
func FuzzDecode(f *testing.F) {
	d := storetest.NewDevice("a")
	d.IdentityKey = storetest.Key("a")
	f.Add(encodeDevice(d))
	f.Add(encodeHolder("a", t0))
	_, tok, _ := store.NewToken("a", t0, time.Hour)
	f.Add(encodeToken(tok))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := decodeDevice(b); err == nil {
			if d2, err := decodeDevice(encodeDevice(d)); err != nil || !d2.Equal(d) {
				t.Fatalf("device %+v re-decodes as %+v, %v", d, d2, err)
			}
		}
		if id, at, err := decodeHolder("x", b); err == nil {
			if id2, at2, err := decodeHolder("x", encodeHolder(id, at)); err != nil || id2 != id || !at2.Equal(at) {
				t.Fatalf("holder %q %v re-decodes as %q %v, %v", id, at, id2, at2, err)
			}
		}
		if tk, err := decodeToken([32]byte{}, b); err == nil {
			if _, err := decodeToken([32]byte{}, encodeToken(tk)); err != nil {
				t.Fatalf("token %+v does not re-decode: %v", tk, err)
			}
		}
	})
}
