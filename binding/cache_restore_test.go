package binding

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestCacheRestore(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := NewCache(Config{MaxLifetime: time.Hour})
	wifi := netip.MustParseAddrPort("198.51.100.1:4000")
	cell := netip.MustParseAddrPort("203.0.113.9:5000")
	bu := &BindingUpdate{Sequence: 41, Lifetime: 10 * time.Minute, Via: 2, Entries: []CareOf{
		{BID: 1, Kind: KindWiFi, Priority: 5}, {BID: 2, Kind: KindCellular, Priority: 9}}}
	if _, err := c.Apply(now, "dev", bu, cell); err != nil {
		t.Fatal(err)
	}
	bu = &BindingUpdate{Sequence: 42, Lifetime: 10 * time.Minute, Via: 1, Entries: []CareOf{{BID: 1, Kind: KindWiFi, Priority: 5}}}
	if _, err := c.Apply(now.Add(time.Second), "dev", bu, wifi); err != nil {
		t.Fatal(err)
	}
	kept, _ := c.Lookup("dev")

	later := now.Add(4 * time.Minute)
	r := NewCache(Config{MaxLifetime: time.Hour})
	ev, err := r.Restore(later, kept)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != EventAdded || ev.Endpoint != cell || ev.Sequence != 42 || ev.PrimaryBID != 2 {
		t.Fatalf("event %+v, want added at %v (bid 2, seq 42)", ev, cell)
	}
	got, ok := r.Lookup("dev")
	if !ok || !reflect.DeepEqual(got, kept) {
		t.Fatalf("restored %+v, want %+v", got, kept)
	}
	if _, err := r.Restore(later, kept); !errors.Is(err, ErrRestore) {
		t.Fatalf("second restore: %v, want ErrRestore", err)
	}
	// The sequence survives: a replay is stale, the next one is not.
	if _, err := r.Apply(later, "dev", bu, wifi); !errors.Is(err, ErrStaleSequence) {
		t.Fatalf("replayed update after restore: %v, want stale", err)
	}
	// The remaining lifetime: expired 10 min after the last update.
	if evs := r.Expire(now.Add(10*time.Minute), nil); len(evs) != 0 {
		t.Fatalf("expired early: %+v", evs)
	}
	if evs := r.Expire(now.Add(10*time.Minute+time.Second), nil); len(evs) != 1 || evs[0].Kind != EventExpired {
		t.Fatalf("expiry events %+v, want the restored binding", evs)
	}
}

func TestCacheRestoreRefused(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	ep := netip.MustParseAddrPort("198.51.100.1:4000")
	good := Binding{Device: "dev", Sequence: 3, Expires: now.Add(time.Minute),
		Entries: []Entry{{BID: 1, Observed: ep, Primary: true}, {BID: 2}}}
	for name, mod := range map[string]func(*Binding){
		"no device":  func(b *Binding) { b.Device = "" },
		"expired":    func(b *Binding) { b.Expires = now },
		"no entries": func(b *Binding) { b.Entries = nil },
		"no primary": func(b *Binding) { b.Entries = []Entry{{BID: 1, Observed: ep}} },
		"two primaries": func(b *Binding) {
			b.Entries = []Entry{{BID: 1, Observed: ep, Primary: true}, {BID: 2, Observed: ep, Primary: true}}
		},
		"unobserved": func(b *Binding) { b.Entries = []Entry{{BID: 1, Primary: true}} },
		"bid twice":  func(b *Binding) { b.Entries = []Entry{{BID: 1, Observed: ep, Primary: true}, {BID: 1}} },
		"too many": func(b *Binding) {
			b.Entries = []Entry{{BID: 1, Observed: ep, Primary: true}, {BID: 2}, {BID: 3}, {BID: 4}, {BID: 5}}
		},
		"out of order": func(b *Binding) { b.Entries = []Entry{{BID: 2, Observed: ep, Primary: true}, {BID: 1}} },
	} {
		t.Run(name, func(t *testing.T) {
			c := NewCache(Config{})
			b := good
			b.Entries = append([]Entry(nil), good.Entries...)
			mod(&b)
			if _, err := c.Restore(now, b); !errors.Is(err, ErrRestore) {
				t.Fatalf("Restore: %v, want ErrRestore", err)
			}
			if c.Len() != 0 {
				t.Fatal("a refused restore left a binding")
			}
		})
	}
	c := NewCache(Config{MaxLifetime: time.Minute})
	long := good
	long.Expires = now.Add(time.Hour)
	if _, err := c.Restore(now, long); err != nil {
		t.Fatal(err)
	}
	if b, _ := c.Lookup("dev"); b.Expires.After(now.Add(time.Minute)) {
		t.Fatalf("restored expiry %v beyond the cache's maximum lifetime", b.Expires)
	}
}
