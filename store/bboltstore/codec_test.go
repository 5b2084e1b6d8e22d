package bboltstore

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/storetest"
)

func TestCodecRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 123, time.UTC)
	d := store.Device{ID: "dev-1", Name: "laptop", IdentityKey: storetest.Key("x"), WGKey: storetest.WGKey("x"),
		Created: now, Enrolled: now.Add(time.Second), Revoked: time.Unix(0, 0)}
	got, err := decodeDevice(encodeDevice(d))
	if err != nil || !got.Equal(d) {
		t.Fatalf("device round trip: %+v, %v", got, err)
	}
	l, err := decodeLease(addrKey(netip.MustParseAddr("fd00::1")), encodeHolder("dev-1", now))
	if err != nil || l.DeviceID != "dev-1" || !l.Created.Equal(now) || l.Addr != netip.MustParseAddr("fd00::1") {
		t.Fatalf("lease: %+v, %v", l, err)
	}
	tok := store.Token{Hash: store.HashToken("s"), DeviceID: "dev-1", Created: now, Expires: now.Add(time.Hour)}
	tk, err := decodeToken(tok.Hash[:], encodeToken(tok))
	if err != nil || tk != tok && (!tk.Created.Equal(tok.Created) || !tk.Expires.Equal(tok.Expires) || tk.DeviceID != tok.DeviceID) {
		t.Fatalf("token: %+v, %v", tk, err)
	}
	for name, b := range map[string][]byte{
		"empty":       nil,
		"version":     {2},
		"truncated":   encodeDevice(d)[:20],
		"trailing":    append(encodeDevice(d), 0),
		"huge length": {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := decodeDevice(b); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := keyAddr([]byte{1, 2, 3}); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("3-byte address key: %v", err)
	}
}

// FuzzDecodeDevice checks that arbitrary bytes never crash the decoder and
// that whatever decodes re-encodes to a record that decodes the same.
func FuzzDecodeDevice(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	f.Add(encodeDevice(store.Device{ID: "a", Name: "b", Created: now}))
	f.Add(encodeDevice(store.Device{ID: "dev", Name: "phone", IdentityKey: storetest.Key("k"), WGKey: storetest.WGKey("k"), Created: now, Enrolled: now, Revoked: now}))
	f.Add([]byte{1, 1, 'a', 1, 'b', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDevice(b)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		enc := encodeDevice(d)
		d2, err := decodeDevice(enc)
		if err != nil || !d2.Equal(d) {
			t.Fatalf("re-decode: %+v, %v (was %+v)", d2, err, d)
		}
		if !bytes.Equal(enc, encodeDevice(d2)) {
			t.Fatal("encoding is not stable")
		}
	})
}

// FuzzDecodeRecords covers the lease/reservation/quarantine and token
// decoders with arbitrary keys and values.
func FuzzDecodeRecords(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	h := store.HashToken("x")
	f.Add([]byte{10, 0, 0, 1}, encodeHolder("dev", now))
	f.Add(netip.MustParseAddr("fd00::1").AsSlice(), encodeHolder("d", time.Time{}))
	f.Add(h[:], encodeToken(store.Token{DeviceID: "dev", Created: now, Expires: now, Used: now}))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if l, err := decodeLease(k, v); err == nil {
			l2, err := decodeLease(addrKey(l.Addr), encodeHolder(l.DeviceID, l.Created))
			if err != nil || l2.DeviceID != l.DeviceID || l2.Addr != l.Addr || !l2.Created.Equal(l.Created) {
				t.Fatalf("lease round trip: %+v -> %+v, %v", l, l2, err)
			}
		} else if !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("lease error %v does not wrap ErrCorrupt", err)
		}
		if tk, err := decodeToken(k, v); err == nil {
			tk2, err := decodeToken(tk.Hash[:], encodeToken(tk))
			if err != nil || tk2.DeviceID != tk.DeviceID || !tk2.Expires.Equal(tk.Expires) || !tk2.Used.Equal(tk.Used) || !tk2.Created.Equal(tk.Created) {
				t.Fatalf("token round trip: %+v -> %+v, %v", tk, tk2, err)
			}
		} else if !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("token error %v does not wrap ErrCorrupt", err)
		}
	})
}
