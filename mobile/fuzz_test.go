package mobile

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseAddrs feeds parseAddrs what an app might pass and checks that
// whatever it accepts is a valid, unmapped prefix that reads back the
// same, and that the state built from it is well formed.
func FuzzParseAddrs(f *testing.F) {
	for _, s := range []string{
		"198.51.100.7/24", "198.51.100.7/24,2001:db8::7/64", "100.64.1.10", "fe80::1%wlan0/64",
		"::ffff:198.51.100.7/120", " , ,", "2001:db8::1 198.51.100.7/25", "198.51.100.7/33", "%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ps, err := parseAddrs(in)
		if err != nil {
			if ErrorCode(err) != CodeInvalid {
				t.Fatalf("parseAddrs(%q): error without the invalid code: %v", in, err)
			}
			return
		}
		var parts []string
		for _, p := range ps {
			if !p.IsValid() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("parseAddrs(%q) gave %v", in, p)
			}
			parts = append(parts, p.String())
		}
		again, err := parseAddrs(strings.Join(parts, ","))
		if err != nil || len(again) != len(ps) {
			t.Fatalf("round trip of %q: %v %v", in, again, err)
		}
		for i := range ps {
			if again[i] != ps[i] {
				t.Fatalf("round trip of %q: %v != %v", in, again[i], ps[i])
			}
		}
		ns := newNetworks()
		ns.set(&network{name: "wlan0", addrs: ps})
		st := ns.state()
		for _, r := range st.Routes {
			if r.Dst != netip.MustParsePrefix("0.0.0.0/0") && r.Dst != netip.MustParsePrefix("::/0") {
				t.Fatalf("state route %v", r)
			}
		}
	})
}
