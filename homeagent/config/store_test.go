package config

import (
	"errors"
	"flag"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const storeExample = `store = "etcds://etcd-1.example:2379,[2001:db8::5],192.0.2.7:12379/homeip/site-a"
store_ca = "/etc/homeip/etcd-ca.pem"
store_cert = "/etc/homeip/etcd-client.pem"
store_key = "/etc/homeip/etcd-client-key.pem"
`

func TestStoreSettings(t *testing.T) {
	var c Config
	if err := Parse(&c, []byte(storeExample)); err != nil {
		t.Fatal(err)
	}
	want := []string{"etcd-1.example:2379", "[2001:db8::5]:2379", "192.0.2.7:12379"}
	if !slices.Equal(c.StoreEtcd, want) || !c.StoreEtcdTLS || c.StorePrefix != "/homeip/site-a/" ||
		c.StoreCA != "/etc/homeip/etcd-ca.pem" || c.StoreKey != "/etc/homeip/etcd-client-key.pem" {
		t.Fatalf("parsed %+v", c)
	}
	var back Config
	if err := Parse(&back, Marshal(c)); err != nil || !reflect.DeepEqual(c, back) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, c, back)
	}
	if err := c.validateStore(); err != nil {
		t.Fatal(err)
	}

	// The environment and the flags use the same parser; "bbolt" goes
	// back to the default.
	var e Config
	if err := ApplyEnv(&e, []string{"HOMEIP_HA_STORE=etcd://10.0.0.1,10.0.0.2"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.StoreEtcd, []string{"10.0.0.1:2379", "10.0.0.2:2379"}) || e.StoreEtcdTLS {
		t.Fatalf("from the environment: %+v", e)
	}
	if d := e.WithDefaults(); d.StorePrefix != DefaultStorePrefix {
		t.Errorf("default prefix %q", d.StorePrefix)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	apply := Flags(fs)
	if err := fs.Parse([]string{"--store", "bbolt"}); err != nil {
		t.Fatal(err)
	}
	if err := apply(&e); err != nil {
		t.Fatal(err)
	}
	if len(e.StoreEtcd) != 0 || e.StorePrefix != "" {
		t.Fatalf("--store bbolt left %+v", e)
	}
	if d := e.WithDefaults(); d.StorePrefix != "" {
		t.Errorf("prefix defaulted for bbolt: %q", d.StorePrefix)
	}
}

func TestParseStoreURL(t *testing.T) {
	good := map[string]string{
		"etcd://h":                           "etcd://h:2379",
		"etcd://H1.Example:2380,h2":          "etcd://h1.example:2380,h2:2379",
		"etcds://[fd00::1]:2379/a/b/":        "etcds://[fd00::1]:2379/a/b/",
		"etcd://10.0.0.1/homeip":             "etcd://10.0.0.1:2379/homeip/",
		"etcd://[2001:DB8::1],10.0.0.2:1/x/": "etcd://[2001:db8::1]:2379,10.0.0.2:1/x/",
		"etcd://h/":                          "etcd://h:2379",
	}
	for in, want := range good {
		eps, tls, prefix, err := ParseStoreURL(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := FormatStoreURL(eps, tls, prefix); got != want {
			t.Errorf("%q: canonical %q, want %q", in, got, want)
		}
	}
	bad := map[string]string{
		"mysql://h":                            "want bbolt",
		"etcd://":                              "no etcd endpoint",
		"etcd:///p":                            "no etcd endpoint",
		"etcd://h,":                            "neither an address nor a host name",
		"etcd://user:pw@h":                     "not allowed",
		"etcd://h?x=1":                         "not allowed",
		"etcd://h:0":                           "port",
		"etcd://h:65536":                       "port",
		"etcd://h:02379":                       "port",
		"etcd://fd00::1":                       "brackets",
		"etcd://[fd00::1":                      "unclosed",
		"etcd://[10.0.0.1]:1":                  "IPv6",
		"etcd://[fe80::1%eth0]":                "IPv6",
		"etcd://[fd00::1]x":                    "[address]:port",
		"etcd://h_1":                           "host name",
		"etcd://h,h:2379":                      "twice",
		"etcd://h//x":                          "path element",
		"etcd://h/a/../b":                      "path element",
		"etcd://h/a b":                         "printable",
		"etcd://h/" + strings.Repeat("x", 300): "longer",
		"etcd://999":                           "neither",
	}
	for in, reason := range bad {
		_, _, _, err := ParseStoreURL(in)
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("%q: error %v, want one saying %q", in, err, reason)
		}
	}
}

func TestValidateStore(t *testing.T) {
	etcd := []string{"h:2379"}
	for name, c := range map[string]Config{
		"TLS files without etcd": {StoreCA: "/ca.pem"},
		"TLS files with etcd://": {StoreEtcd: etcd, StoreCert: "/c.pem", StoreKey: "/k.pem"},
		"certificate alone":      {StoreEtcd: etcd, StoreEtcdTLS: true, StoreCert: "/c.pem"},
	} {
		if err := c.validateStore(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	for name, c := range map[string]Config{
		"bbolt":              {},
		"etcd":               {StoreEtcd: etcd},
		"etcds, system CAs":  {StoreEtcd: etcd, StoreEtcdTLS: true},
		"etcds, client cert": {StoreEtcd: etcd, StoreEtcdTLS: true, StoreCA: "/ca", StoreCert: "/c", StoreKey: "/k"},
	} {
		if err := c.validateStore(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParseStoreURL: no panic, and an accepted URL's canonical form
// parses to the same settings.
func FuzzParseStoreURL(f *testing.F) {
	for _, s := range []string{"bbolt", "etcd://h", "etcds://[fd00::1]:2379,10.0.0.1/a/", "etcd://h1:1,h2:2/p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		eps, tls, prefix, err := ParseStoreURL(s)
		if err != nil || len(eps) == 0 {
			return
		}
		canon := FormatStoreURL(eps, tls, prefix)
		eps2, tls2, prefix2, err := ParseStoreURL(canon)
		if err != nil || !slices.Equal(eps, eps2) || tls != tls2 || prefix != prefix2 {
			t.Fatalf("%q → %q → %v %v %q, %v", s, canon, eps2, tls2, prefix2, err)
		}
	})
}
