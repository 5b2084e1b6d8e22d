package pool

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestParsePrefixes(t *testing.T) {
	good := map[string][]string{
		"":                                nil,
		"10.0.0.0/8":                      {"10.0.0.0/8"},
		"10.0.0.0/8, fd00::/64":           {"10.0.0.0/8", "fd00::/64"},
		" 10.0.0.1 ,,192.0.2.0/24\t":      {"10.0.0.1/32", "192.0.2.0/24"},
		"2001:db8::1":                     {"2001:db8::1/128"},
		"198.51.100.0/24\n203.0.113.0/24": {"198.51.100.0/24", "203.0.113.0/24"},
	}
	for in, want := range good {
		got, err := ParsePrefixes(in)
		if err != nil {
			t.Errorf("ParsePrefixes(%q): %v", in, err)
			continue
		}
		var gs []string
		for _, p := range got {
			gs = append(gs, p.String())
		}
		if !slices.Equal(gs, want) {
			t.Errorf("ParsePrefixes(%q) = %v, want %v", in, gs, want)
		}
	}
	bad := []string{"10.0.0.1/8", "10.0.0.0/33", "fe80::1%eth0", "fe80::/64%eth0", "::ffff:10.0.0.0/104", "nonsense", "10.0.0.0/8/8", "10.0.0.0/-1"}
	for _, in := range bad {
		if _, err := ParsePrefixes(in); !errors.Is(err, ErrConfig) {
			t.Errorf("ParsePrefixes(%q) = %v, want ErrConfig", in, err)
		}
	}
}

func TestParseConfig(t *testing.T) {
	text := `
# pools
v4 10.77.0.0/16 10.78.0.0/24   # two
v6 fd77::/64
exclude 10.77.0.1 fd77::1
exclude 10.77.255.0/24
quarantine 12h
`
	c, err := ParseConfig([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		V4:         []netip.Prefix{netip.MustParsePrefix("10.77.0.0/16"), netip.MustParsePrefix("10.78.0.0/24")},
		V6:         []netip.Prefix{netip.MustParsePrefix("fd77::/64")},
		Exclude:    []netip.Prefix{netip.MustParsePrefix("10.77.0.1/32"), netip.MustParsePrefix("fd77::1/128"), netip.MustParsePrefix("10.77.255.0/24")},
		Quarantine: 12 * time.Hour,
	}
	if !c.Equal(want) {
		t.Fatalf("ParseConfig = %+v, want %+v", c, want)
	}
	out, _ := c.MarshalText()
	c2, err := ParseConfig(out)
	if err != nil || !c2.Equal(c) {
		t.Fatalf("round trip through %q: %+v, %v", out, c2, err)
	}
	if c, err := ParseConfig([]byte("quarantine none")); err != nil || c.quarantine() != 0 {
		t.Fatalf("quarantine none: %+v %v", c, err)
	}
	if c, _ := ParseConfig(nil); c.quarantine() != DefaultQuarantine {
		t.Fatalf("default quarantine = %v", c.quarantine())
	}

	bad := map[string]string{
		"overlap":          "v4 10.0.0.0/8 10.1.0.0/16",
		"overlap families": "v4 10.0.0.0/8\nv6 10.0.0.0/16",
		"v6 under v4":      "v4 fd00::/64",
		"host bits":        "v6 fd00::1/64",
		"unknown":          "pool 10.0.0.0/8",
		"bad quarantine":   "quarantine soon",
		"neg quarantine":   "quarantine -1h",
		"twice quarantine": "quarantine 1h\nquarantine 2h",
		"bad exclude":      "exclude 10.0.0.300",
		"mapped range":     "v6 ::/64",
	}
	for name, text := range bad {
		if _, err := ParseConfig([]byte(text)); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: ParseConfig(%q) = %v, want ErrConfig", name, text, err)
		}
	}
}

// FuzzParseConfig checks that the parser never panics and that whatever
// it accepts survives MarshalText and a second parse unchanged.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("v4 10.77.0.0/16\nv6 fd77::/64\nexclude 10.77.0.1\nquarantine 24h\n"))
	f.Add([]byte("v4 10.0.0.0/8, 192.0.2.0/24 # c\nquarantine none"))
	f.Add([]byte("exclude ::1 fe80::/10\n\n#only comment"))
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := ParseConfig(text)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			return
		}
		out, err := c.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("re-parsing %q: %v", out, err)
		}
		if !c2.Equal(c) {
			t.Fatalf("round trip: %+v != %+v (text %q)", c2, c, out)
		}
		if _, err := New(c); err != nil {
			t.Fatalf("New refuses a parsed config: %v", err)
		}
	})
}

// FuzzParsePrefixes checks round trips of prefix lists.
func FuzzParsePrefixes(f *testing.F) {
	f.Add("10.0.0.0/8, fd00::/64")
	f.Add("192.0.2.1 2001:db8::/32")
	f.Add("::ffff:1.2.3.4")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePrefixes(s)
		if err != nil {
			return
		}
		var text string
		for _, p := range ps {
			if p.Masked() != p || p.Addr().Zone() != "" || p.Addr().Is4In6() {
				t.Fatalf("accepted non-canonical %v", p)
			}
			text += p.String() + " "
		}
		ps2, err := ParsePrefixes(text)
		if err != nil || !slices.Equal(ps, ps2) {
			t.Fatalf("round trip %q: %v, %v", text, ps2, err)
		}
	})
}
