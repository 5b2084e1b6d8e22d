package pool

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// DefaultQuarantine is how long a released address stays away from other
// devices when Config.Quarantine is zero.
const DefaultQuarantine = 24 * time.Hour

// Family is an address family: IPv4 or IPv6, numbered 4 and 6 as the
// store counts them (store.Family).
type Family int

// The two families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// Config is a pool's configuration. Its zero value is an empty pool that
// hands out nothing.
type Config struct {
	V4 []netip.Prefix // IPv4 prefixes, in order of preference
	V6 []netip.Prefix // IPv6 prefixes, in order of preference
	// Exclude lists addresses (as /32 or /128) and ranges never handed
	// out, such as the home agent's own tunnel addresses.
	Exclude []netip.Prefix
	// Quarantine is how long a released address is kept from other
	// devices: zero means DefaultQuarantine, negative means none.
	Quarantine time.Duration
}

// mapped4 is the IPv4-mapped IPv6 range, never part of an IPv6 pool.
var mapped4 = netip.MustParsePrefix("::ffff:0:0/96")

// quarantine returns the effective quarantine duration.
func (c Config) quarantine() time.Duration {
	switch {
	case c.Quarantine == 0:
		return DefaultQuarantine
	case c.Quarantine < 0:
		return 0
	}
	return c.Quarantine
}

// Prefixes returns the prefixes of one family.
func (c Config) Prefixes(f Family) []netip.Prefix {
	if f == IPv4 {
		return c.V4
	}
	return c.V6
}

// Validate checks a configuration: canonical prefixes (no host bits set,
// no zones, no IPv4-mapped IPv6) of the right family, no two pool prefixes
// overlapping.
func (c Config) Validate() error {
	all := make([]netip.Prefix, 0, len(c.V4)+len(c.V6))
	for _, fam := range []struct {
		name string
		ps   []netip.Prefix
		is4  bool
	}{{"v4", c.V4, true}, {"v6", c.V6, false}} {
		for _, p := range fam.ps {
			if err := checkPrefix(p); err != nil {
				return err
			}
			if p.Addr().Is4() != fam.is4 {
				return fmt.Errorf("%w: %v listed under %s", ErrConfig, p, fam.name)
			}
			if !fam.is4 && p.Overlaps(mapped4) {
				return fmt.Errorf("%w: %v overlaps the IPv4-mapped range %v", ErrConfig, p, mapped4)
			}
			all = append(all, p)
		}
	}
	for i, p := range all {
		for _, q := range all[:i] {
			if p.Overlaps(q) {
				return fmt.Errorf("%w: prefixes %v and %v overlap", ErrConfig, q, p)
			}
		}
	}
	for _, p := range c.Exclude {
		if err := checkPrefix(p); err != nil {
			return err
		}
	}
	return nil
}

func checkPrefix(p netip.Prefix) error {
	a := p.Addr()
	switch {
	case !p.IsValid():
		return fmt.Errorf("%w: invalid prefix %v", ErrConfig, p)
	case a.Zone() != "":
		return fmt.Errorf("%w: prefix %v has a zone", ErrConfig, p)
	case a.Is4In6():
		return fmt.Errorf("%w: prefix %v is IPv4-mapped IPv6; write it as IPv4", ErrConfig, p)
	case p.Masked() != p:
		return fmt.Errorf("%w: prefix %v has host bits set (did you mean %v?)", ErrConfig, p, p.Masked())
	}
	return nil
}

// ParsePrefix parses one prefix ("10.77.0.0/16") or a bare address
// ("10.77.0.1", meaning /32 or /128) and checks it is canonical.
func ParsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("%w: %v", ErrConfig, err)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%w: %v", ErrConfig, err)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%w: address %q has a zone", ErrConfig, s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if err := checkPrefix(p); err != nil {
		return netip.Prefix{}, err
	}
	return p, nil
}

// ParsePrefixes parses a list of prefixes or addresses separated by commas
// and/or white space ("10.77.0.0/16, fd77::/64"). An empty list is valid.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	out := make([]netip.Prefix, 0, len(fields))
	for _, f := range fields {
		p, err := ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseConfig reads the pool section format, one directive per line,
// '#' starting a comment:
//
//	v4 10.77.0.0/16 10.78.0.0/24   # IPv4 prefixes, in order
//	v6 fd77::/64
//	exclude 10.77.0.1 fd77::1      # addresses or ranges never handed out
//	quarantine 24h                 # Go duration; 0 = default, "none" = off
//
// Directives may repeat (lists accumulate). The result is validated.
func ParseConfig(text []byte) (Config, error) {
	var c Config
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	seenQ := false
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		key, rest := fields[0], strings.Join(fields[1:], " ")
		switch key {
		case "v4", "v6", "exclude":
			ps, err := ParsePrefixes(rest)
			if err != nil {
				return Config{}, fmt.Errorf("pool: config line %d: %w", n, err)
			}
			switch key {
			case "v4":
				c.V4 = append(c.V4, ps...)
			case "v6":
				c.V6 = append(c.V6, ps...)
			default:
				c.Exclude = append(c.Exclude, ps...)
			}
		case "quarantine":
			if seenQ {
				return Config{}, fmt.Errorf("%w: config line %d: quarantine given twice", ErrConfig, n)
			}
			seenQ = true
			if rest == "none" {
				c.Quarantine = -1
				break
			}
			d, err := time.ParseDuration(rest)
			if err != nil || d < 0 {
				return Config{}, fmt.Errorf("%w: config line %d: quarantine %q: want a duration >= 0 or \"none\"", ErrConfig, n, rest)
			}
			c.Quarantine = d
		default:
			return Config{}, fmt.Errorf("%w: config line %d: unknown directive %q", ErrConfig, n, key)
		}
	}
	if err := sc.Err(); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("pool: config: %w", err)
	}
	return c, nil
}

// MarshalText writes the configuration in the format ParseConfig reads.
func (c Config) MarshalText() ([]byte, error) {
	var b bytes.Buffer
	line := func(key string, ps []netip.Prefix) {
		if len(ps) == 0 {
			return
		}
		b.WriteString(key)
		for _, p := range ps {
			b.WriteByte(' ')
			if p.IsSingleIP() {
				b.WriteString(p.Addr().String())
			} else {
				b.WriteString(p.String())
			}
		}
		b.WriteByte('\n')
	}
	line("v4", c.V4)
	line("v6", c.V6)
	line("exclude", c.Exclude)
	switch {
	case c.Quarantine < 0:
		b.WriteString("quarantine none\n")
	case c.Quarantine > 0:
		fmt.Fprintf(&b, "quarantine %v\n", c.Quarantine)
	}
	return b.Bytes(), nil
}

// Equal reports whether two configurations are the same (a negative
// quarantine equals any other negative one).
func (c Config) Equal(o Config) bool {
	return slices.Equal(c.V4, o.V4) && slices.Equal(c.V6, o.V6) &&
		slices.Equal(c.Exclude, o.Exclude) && c.quarantine() == o.quarantine() &&
		(c.Quarantine == 0) == (o.Quarantine == 0)
}
