package homeagent

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
)

func sampleKept() keptBinding {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123, time.UTC)
	return keptBinding{
		b: binding.Binding{
			Device: "dev-0123456789", Sequence: 65530, Expires: at.Add(time.Hour),
			Primary: netip.MustParseAddrPort("198.51.100.7:40000"), PrimaryBID: 2,
			Entries: []binding.Entry{
				{BID: 1, Kind: binding.KindWiFi, Priority: 10, Local: netip.MustParseAddrPort("[fd00::5]:1234")},
				{BID: 2, Kind: binding.KindCellular, Priority: 20, Primary: true, LastSeen: at,
					Observed: netip.MustParseAddrPort("198.51.100.7:40000"), Local: netip.MustParseAddrPort("10.0.0.2:5000")},
			},
		},
		wg:    [32]byte{1, 2, 3},
		since: at.Add(-time.Minute), lastHandover: at,
		mtu: pathMTU{Limit: 1340, Confirmed: 1340, State: mtuDiscovered},
	}
}

func sameKept(a, b keptBinding) bool {
	norm := func(k keptBinding) keptBinding {
		k.b.Expires, k.since, k.lastHandover = k.b.Expires.UTC(), k.since.UTC(), k.lastHandover.UTC()
		for i := range k.b.Entries {
			if !k.b.Entries[i].LastSeen.IsZero() {
				k.b.Entries[i].LastSeen = k.b.Entries[i].LastSeen.UTC()
			}
		}
		return k
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func TestBindingsRoundTrip(t *testing.T) {
	a := sampleKept()
	b := sampleKept()
	b.b.Device, b.b.Entries = "other", b.b.Entries[1:]
	b.mtu, b.lastHandover = pathMTU{State: mtuInterface}, time.Time{}
	for _, ks := range [][]keptBinding{nil, {a}, {a, b}} {
		got, err := decodeBindings(encodeBindings(ks))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(got) != len(ks) {
			t.Fatalf("%d records back, want %d", len(got), len(ks))
		}
		for i := range ks {
			if !sameKept(got[i], ks[i]) {
				t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], ks[i])
			}
		}
	}
}

// TestBindingsDamage: every truncation and every single-bit flip of a
// file is refused as corrupt (or, in the version byte, as newer), never
// decoded into something else.
func TestBindingsDamage(t *testing.T) {
	good := encodeBindings([]keptBinding{sampleKept(), sampleKept()})
	if _, err := decodeBindings(good); !errors.Is(err, ErrBindingsCorrupt) {
		t.Fatalf("a device kept twice: %v, want ErrBindingsCorrupt", err)
	}
	good = encodeBindings([]keptBinding{sampleKept()})
	for n := range len(good) {
		if _, err := decodeBindings(good[:n]); !errors.Is(err, ErrBindingsCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	for i := range len(good) {
		for bit := range 8 {
			b := append([]byte(nil), good...)
			b[i] ^= 1 << bit
			_, err := decodeBindings(b)
			if !errors.Is(err, ErrBindingsCorrupt) && !errors.Is(err, ErrBindingsVersion) {
				t.Fatalf("byte %d bit %d flipped: %v", i, bit, err)
			}
		}
	}
}

// TestBindingsWriteAtomic: the file is replaced whole, and no temporary
// file is left behind.
func TestBindingsWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, BindingsFile)
	for _, ks := range [][]keptBinding{{sampleKept()}, nil} {
		if err := writeFileAtomic(path, encodeBindings(ks)); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := decodeBindings(data); err != nil || len(got) != len(ks) {
			t.Fatalf("read back %d records (%v), want %d", len(got), err, len(ks))
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("directory holds %d entries (%v), want the file alone", len(ents), err)
	}
}

// FuzzDecodeBindings: no input panics; what decodes encodes back to the
// same bytes.
func FuzzDecodeBindings(f *testing.F) {
	f.Add(encodeBindings(nil))
	f.Add(encodeBindings([]keptBinding{sampleKept()}))
	f.Add([]byte(bindingsMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := decodeBindings(data)
		if err != nil {
			if !errors.Is(err, ErrBindingsCorrupt) && !errors.Is(err, ErrBindingsVersion) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		again, err := decodeBindings(encodeBindings(ks))
		if err != nil || len(again) != len(ks) {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
		for i := range ks {
			if !sameKept(again[i], ks[i]) {
				t.Fatalf("record %d changed in a round trip", i)
			}
		}
	})
}

// TestKeepDelay: small files are written every keepDelay, large ones no
// faster than keepBytesPerSecond allows.
func TestKeepDelay(t *testing.T) {
	for _, tc := range []struct {
		size int
		want time.Duration
	}{
		{0, keepDelay},
		{100 * 1000, keepDelay},
		{keepBytesPerSecond, time.Second},
		{4 * keepBytesPerSecond, 4 * time.Second},
	} {
		if got := keepDelayFor(tc.size); got != tc.want {
			t.Errorf("keepDelayFor(%d) = %v, want %v", tc.size, got, tc.want)
		}
	}
	// About 100 bytes a binding: 40,000 of them are written once a second.
	var ks []keptBinding
	for i := range 1000 {
		k := sampleKept()
		k.b.Device = fmt.Sprintf("dev-%05d-abcdefgh", i)
		ks = append(ks, k)
	}
	per := len(encodeBindings(ks)) / len(ks)
	if per < 60 || per > 160 {
		t.Errorf("%d bytes a binding, the doc says about 100", per)
	}
	if d := keepDelayFor(40000 * per); d < 500*time.Millisecond || d > 2*time.Second {
		t.Errorf("40,000 bindings are written every %v, want about a second", d)
	}
}
