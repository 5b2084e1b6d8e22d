package config

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
)

const example = `# comment
data_dir = "/srv/homeip"
listen = "198.18.0.1:51830"
public_addrs = ["198.18.0.1", "[2001:db8:ffff::1]:4500"]
pool4 = ["192.0.2.128/25"]
pool6 = ["2001:db8:100::/64"]
tunnel4 = "192.0.2.129"
tunnel6 = "2001:db8:100::1"
routes = ["192.0.2.0/25", "2001:db8:1::/64"]
dns_zone = "Home.Example."
token_ttl = "1h"
mtu = 1400
dns_disabled = true
`

func TestParseExample(t *testing.T) {
	var c Config
	if err := Parse(&c, []byte(example)); err != nil {
		t.Fatal(err)
	}
	want := Config{
		DataDir:     "/srv/homeip",
		Listen:      netip.MustParseAddrPort("198.18.0.1:51830"),
		PublicAddrs: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:0"), netip.MustParseAddrPort("[2001:db8:ffff::1]:4500")},
		Pool4:       []netip.Prefix{netip.MustParsePrefix("192.0.2.128/25")},
		Pool6:       []netip.Prefix{netip.MustParsePrefix("2001:db8:100::/64")},
		Tunnel4:     netip.MustParseAddr("192.0.2.129"),
		Tunnel6:     netip.MustParseAddr("2001:db8:100::1"),
		Routes:      []netip.Prefix{netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("2001:db8:1::/64")},
		DNSZone:     "home.example",
		TokenTTL:    time.Hour,
		MTU:         1400,
		DNSDisabled: true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	d := c.WithDefaults()
	if d.PublicAddrs[0] != netip.MustParseAddrPort("198.18.0.1:51830") {
		t.Errorf("public addr port not defaulted: %v", d.PublicAddrs)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		line      int
		key       string
		unknown   bool
		reason    string
	}{
		{"unknown key", "listen = \"[::]:1\"\n\nlisen = \"x\"\n", 3, "lisen", true, "unknown key"},
		{"unknown table", "mtu = 1400\n[dns]\nzone = \"x\"\n", 2, "dns", true, "unknown key"},
		{"bad prefix", "# c\npool4 = [\"192.0.2.0/33\"]\n", 2, "pool4", false, "192.0.2.0/33"},
		{"host bits", "pool4 = [\"192.0.2.1/24\"]\n", 1, "pool4", false, "host bits"},
		{"wrong family", "pool6 = [\"192.0.2.0/24\"]\n", 1, "pool6", false, "family"},
		{"scalar for list", "pool4 = \"192.0.2.0/24\"\n", 1, "pool4", false, "want an array"},
		{"list for scalar", "listen = [\"1.2.3.4:5\"]\n", 1, "listen", false, "single value"},
		{"bad duration", "\n\ntoken_ttl = \"forever\"\n", 3, "token_ttl", false, "duration"},
		{"negative duration", "lifetime = \"-1s\"\n", 1, "lifetime", false, "positive"},
		{"mtu range", "mtu = 70000\n", 1, "mtu", false, "1280 to 9000"},
		{"bad zone", "dns_zone = \"a..b\"\n", 1, "dns_zone", false, "domain"},
		{"bad level", "log_level = \"loud\"\n", 1, "log_level", false, "debug"},
		{"syntax", "mtu = 1400\nlisten = \n", 2, "", false, "invalid"},
		{"float", "mtu = 1.5\n", 1, "mtu", false, "float64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{MTU: 1300}
			err := Parse(&c, []byte(tt.doc))
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *FileError", err)
			}
			if fe.Line != tt.line || fe.Key != tt.key {
				t.Errorf("line %d key %q, want line %d key %q (%v)", fe.Line, fe.Key, tt.line, tt.key, err)
			}
			if errors.Is(err, ErrUnknownKey) != tt.unknown {
				t.Errorf("errors.Is(ErrUnknownKey) = %v: %v", !tt.unknown, err)
			}
			if !tt.unknown && !errors.Is(err, ErrInvalid) {
				t.Errorf("not ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("%q does not say %q", err, tt.reason)
			}
			if !reflect.DeepEqual(c, Config{MTU: 1300}) {
				t.Errorf("config changed on error: %+v", c)
			}
		})
	}
}

func TestLoadFileNamesFile(t *testing.T) {
	path := t.TempDir() + "/ha.toml"
	if err := writeFile(path, "mtu = 1400\nbogus = 1\n"); err != nil {
		t.Fatal(err)
	}
	var c Config
	err := LoadFile(&c, path)
	if err == nil || !strings.Contains(err.Error(), path+":2: key \"bogus\"") {
		t.Fatalf("err = %v", err)
	}
}

func TestPrecedence(t *testing.T) {
	var c Config
	if err := Parse(&c, []byte("mtu = 1400\npool4 = [\"10.1.0.0/16\"]\nlisten = \"[::]:1000\"\n")); err != nil {
		t.Fatal(err)
	}
	if err := ApplyEnv(&c, []string{"PATH=/bin", "HOMEIP_HA_MTU=1380", "HOMEIP_HA_POOL4=10.2.0.0/16, 10.3.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	apply := Flags(fs)
	if err := fs.Parse([]string{"-pool4", "10.4.0.0/16", "-pool4", "10.5.0.0/16", "-dns-zone", "x.test", "--dns-disabled"}); err != nil {
		t.Fatal(err)
	}
	if err := apply(&c); err != nil {
		t.Fatal(err)
	}
	if c.MTU != 1380 || c.Listen.Port() != 1000 || c.DNSZone != "x.test" || !c.DNSDisabled {
		t.Errorf("got %+v", c)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.4.0.0/16"), netip.MustParsePrefix("10.5.0.0/16")}
	if !reflect.DeepEqual(c.Pool4, want) {
		t.Errorf("pool4 %v, want %v", c.Pool4, want)
	}
}

func TestEnvErrors(t *testing.T) {
	c := Config{MTU: 1300}
	for _, env := range [][]string{{"HOMEIP_HA_NOPE=1"}, {"HOMEIP_HA_MTU=abc"}, {"HOMEIP_HA_POOL6=10.0.0.0/8"}} {
		if err := ApplyEnv(&c, env); err == nil {
			t.Errorf("%v: no error", env)
		}
	}
	if c.MTU != 1300 {
		t.Errorf("changed on error")
	}
}

func TestFlagError(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	Flags(fs)
	if err := fs.Parse([]string{"-listen", "nowhere"}); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("err = %v", err)
	}
}

func TestDefaults(t *testing.T) {
	d := Config{}.WithDefaults()
	if d.DataDir != DefaultDataDir || d.Listen.Port() != DefaultPort || !d.Listen.Addr().IsUnspecified() || d.Listen.Port() != 51830 ||
		d.TokenTTL != 24*time.Hour || d.Metrics.IsValid() || len(d.PublicAddrs) != 0 {
		t.Errorf("defaults: %+v", d)
	}
	c := Config{Pool4: []netip.Prefix{netip.MustParsePrefix("10.70.0.0/16")}, Pool6: []netip.Prefix{netip.MustParsePrefix("fd00:1::/64")},
		Listen: netip.MustParseAddrPort("198.18.0.1:0"), DNSUpstreams: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:0")}}
	d = c.WithDefaults()
	if d.Tunnel4 != netip.MustParseAddr("10.70.0.1") || d.Tunnel6 != netip.MustParseAddr("fd00:1::1") {
		t.Errorf("tunnel addrs %v %v", d.Tunnel4, d.Tunnel6)
	}
	if len(d.PublicAddrs) != 1 || d.PublicAddrs[0] != netip.MustParseAddrPort("198.18.0.1:51830") {
		t.Errorf("public %v", d.PublicAddrs)
	}
	if d.DNSUpstreams[0].Port() != 53 {
		t.Errorf("upstream %v", d.DNSUpstreams)
	}
	if c.DNSUpstreams[0].Port() != 0 {
		t.Errorf("WithDefaults changed its receiver's slice")
	}
	if err := d.Validate(); err != nil {
		t.Error(err)
	}
}

func TestValidate(t *testing.T) {
	base := Config{Pool4: []netip.Prefix{netip.MustParsePrefix("10.70.0.0/16")}}
	bad := []Config{
		{},
		{Pool4: base.Pool4, Tunnel4: netip.MustParseAddr("10.71.0.1")},
		{Pool4: []netip.Prefix{netip.MustParsePrefix("10.70.0.0/16"), netip.MustParsePrefix("10.70.8.0/24")}},
		{Pool4: base.Pool4, Keepalive: time.Hour},
		{Pool4: base.Pool4, Routes: manyRoutes(binding.MaxRoutes + 1)},
		{Pool4: base.Pool4, DNSZone: strings.Repeat("a", 250) + ".internal"},
		{Pool4: base.Pool4, DNSNoForward: true, DNSUpstreams: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53")}},
	}
	for i, c := range bad {
		if err := c.WithDefaults().Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%d: err = %v", i, err)
		}
	}
}

// manyRoutes returns n distinct /32 routes.
func manyRoutes(n int) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range out {
		out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 32)
	}
	return out
}

// TestValidateRegisterAckFits: a configuration Validate accepts gives a
// RegisterAck that encodes.
func TestValidateRegisterAckFits(t *testing.T) {
	c := Config{Pool4: []netip.Prefix{netip.MustParsePrefix("10.70.0.0/16")}, Routes: manyRoutes(binding.MaxRoutes),
		DNSZone: strings.Repeat("a", 240) + ".internal"}.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ack := &binding.RegisterAck{Status: binding.StatusAccepted, Routes: c.Routes, SearchDomain: c.DNSZone,
		Lifetime: c.Lifetime, Keepalive: c.Keepalive, MTU: uint16(c.MTU)}
	if _, err := binding.Marshal(ack); err != nil {
		t.Fatalf("the largest valid configuration's RegisterAck: %v", err)
	}
}

func TestDefaultPoolsPersisted(t *testing.T) {
	dir := t.TempDir()
	p4, p6, err := DefaultPools(dir, bytes.NewReader([]byte{7, 1, 2, 3, 4, 5}))
	if err != nil {
		t.Fatal(err)
	}
	if p4[0] != netip.MustParsePrefix("10.71.0.0/16") || p6[0] != netip.MustParsePrefix("fd01:203:405::/64") {
		t.Fatalf("pools %v %v", p4, p6)
	}
	// A second start reads the same pools, whatever the randomness says.
	q4, q6, err := DefaultPools(dir, bytes.NewReader([]byte{9, 9, 9, 9, 9, 9}))
	if err != nil || q4[0] != p4[0] || q6[0] != p6[0] {
		t.Fatalf("second start: %v %v %v", q4, q6, err)
	}
	allowed := netip.MustParsePrefix("10.64.0.0/11")
	for i := 0; i < 256; i++ {
		r4, r6, err := RandomPools(bytes.NewReader([]byte{byte(i), byte(i), 0, 0, 0, 0}))
		if err != nil || !allowed.Contains(r4.Addr()) || r4.Bits() != 16 || !netip.MustParsePrefix("fd00::/8").Contains(r6.Addr()) {
			t.Fatalf("%d: %v %v %v", i, r4, r6, err)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	var c Config
	if err := Parse(&c, []byte(example)); err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := Parse(&back, Marshal(c)); err != nil {
		t.Fatalf("%v\n%s", err, Marshal(c))
	}
	if !reflect.DeepEqual(c, back) {
		t.Fatalf("round trip:\n%+v\n%+v", c, back)
	}
}

func TestExampleFile(t *testing.T) {
	var c Config
	if err := LoadFile(&c, "../../deploy/ha.example.toml"); err != nil {
		t.Fatal(err)
	}
	d := c.WithDefaults()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Listen.Port() != 51830 || len(d.PublicAddrs) != 2 || d.PublicAddrs[0] != netip.MustParseAddrPort("198.18.0.1:51830") ||
		len(d.Routes) != 2 || d.Metrics != netip.MustParseAddrPort("127.0.0.1:9101") {
		t.Fatalf("example: %+v", d)
	}
}

// TestPublicAddrsWarning: only detected addresses that are all private
// draw the warning, and it tells the user what to do.
func TestPublicAddrsWarning(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		addrs    []netip.AddrPort
		detected bool
		warn     bool
	}{
		{[]netip.AddrPort{ap("192.168.1.10:51830"), ap("[fd12::1]:51830")}, true, true},
		{[]netip.AddrPort{ap("100.70.1.2:51830")}, true, true},
		{[]netip.AddrPort{ap("192.168.1.10:51830"), ap("203.0.113.9:51830")}, true, false},
		{[]netip.AddrPort{ap("[2001:db8::9]:51830")}, true, false},
		{[]netip.AddrPort{ap("192.168.1.10:51830")}, false, false}, // configured: the user said so
		{nil, true, false},
	}
	for _, tt := range tests {
		c := Config{Listen: ap("[::]:51830"), PublicAddrs: tt.addrs, PublicAddrsDetected: tt.detected}
		w := c.PublicAddrsWarning()
		if (w != "") != tt.warn {
			t.Errorf("%v detected=%v: warning %q, want one: %v", tt.addrs, tt.detected, w, tt.warn)
		}
		if w != "" && (!strings.Contains(w, "--public-addr") || !strings.Contains(w, "51830")) {
			t.Errorf("warning does not say what to do: %q", w)
		}
	}
}
