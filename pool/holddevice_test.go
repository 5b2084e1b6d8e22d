package pool

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func TestHoldDevice(t *testing.T) {
	c := newClock()
	p := mustPool(t, "v4 10.9.0.0/24\nv6 fd09::/64", c)
	if err := p.HoldDevice("a", addr("10.9.0.5"), addr("fd09::5")); err != nil {
		t.Fatal(err)
	}
	if got := p.Addrs("a"); !slices.Equal(got, []netip.Addr{addr("10.9.0.5"), addr("fd09::5")}) {
		t.Fatalf("a holds %v", got)
	}
	// Same result as Hold: a device moving, another taking an address.
	if err := p.HoldDevice("a", addr("10.9.0.6")); err != nil {
		t.Fatal(err)
	}
	if err := p.HoldDevice("b", addr("fd09::5")); err != nil {
		t.Fatal(err)
	}
	if got := p.Addrs("a"); !slices.Equal(got, []netip.Addr{addr("10.9.0.6")}) {
		t.Fatalf("a holds %v after moving and losing its IPv6 address", got)
	}
	if h, ok := p.Holder(addr("10.9.0.5")); ok {
		t.Fatalf("10.9.0.5 still held by %q", h)
	}
	// Refusals: the usable address is held, the first refusal returned.
	err := p.HoldDevice("c", addr("10.8.0.1"), addr("10.9.0.7"), addr("10.9.0.255"))
	if !errors.Is(err, ErrOutside) {
		t.Fatalf("HoldDevice with an outside address: %v", err)
	}
	if got := p.Addrs("c"); !slices.Equal(got, []netip.Addr{addr("10.9.0.7")}) {
		t.Fatalf("c holds %v", got)
	}
	// A device whose addresses are all refused leaves no record.
	devs := len(p.byID)
	if err := p.HoldDevice("d", addr("10.8.0.1")); !errors.Is(err, ErrOutside) {
		t.Fatalf("HoldDevice outside: %v", err)
	}
	if err := p.HoldDevice("d", addr("10.9.0.0")); !errors.Is(err, ErrUnusable) {
		t.Fatalf("HoldDevice of the network address: %v", err)
	}
	if len(p.byID) != devs {
		t.Fatalf("refused device interned: %d devices, want %d", len(p.byID), devs)
	}
	if err := p.HoldDevice("", addr("10.9.0.9")); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("HoldDevice without id: %v", err)
	}
	var held uint64
	for _, u := range p.Utilisation() {
		held += u.Leased
	}
	if held != 3 {
		t.Fatalf("%d leases counted, want 3", held)
	}
}
