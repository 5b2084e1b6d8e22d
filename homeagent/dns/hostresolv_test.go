package dns

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHostResolvers: the first file that names a usable resolver wins;
// the server's own addresses, unspecified and duplicate entries are left
// out; a changed file is followed after the recheck interval.
func TestHostResolvers(t *testing.T) {
	dir := t.TempDir()
	resolved := filepath.Join(dir, "resolved.conf") // systemd-resolved's upstream list
	etc := filepath.Join(dir, "resolv.conf")
	writeFile(t, etc, "# stub\nnameserver 127.0.0.53\noptions edns0\n")
	self := netip.MustParseAddrPort("10.99.0.1:53")
	h := NewHostResolvers([]string{resolved, etc}, []netip.AddrPort{self})
	now := time.Unix(1000, 0)
	h.now = func() time.Time { return now }

	got, from := h.Upstreams()
	if want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.53:53")}; !slices.Equal(got, want) || from != etc {
		t.Fatalf("with only the stub file: %v from %q, want %v from %q", got, from, want, etc)
	}

	writeFile(t, resolved, "nameserver 10.99.0.1\nnameserver 0.0.0.0\nnameserver 192.0.2.53\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver bogus\nsearch example\n")
	if got2, _ := h.Upstreams(); !slices.Equal(got2, got) {
		t.Fatalf("read again before the recheck interval: %v", got2)
	}
	now = now.Add(hostRecheck)
	got, from = h.Upstreams()
	want := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53"), netip.MustParseAddrPort("[fe80::1%eth0]:53")}
	if !slices.Equal(got, want) || from != resolved {
		t.Fatalf("after systemd-resolved's file appeared: %v from %q, want %v from %q", got, from, want, resolved)
	}

	if err := os.Remove(resolved); err != nil {
		t.Fatal(err)
	}
	writeFile(t, etc, "nameserver 10.99.0.1\n") // only the server itself
	now = now.Add(hostRecheck)
	if got, from = h.Upstreams(); len(got) != 0 || from != "" {
		t.Fatalf("when only the server itself is named: %v from %q, want none", got, from)
	}
}

// TestForwardToHostResolvers: with no upstream configured, a name outside
// the zone goes to the resolver the host's resolv.conf names; with an
// empty resolv.conf it is refused.
func TestForwardToHostResolvers(t *testing.T) {
	up := startUpstream(t)
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	writeFile(t, conf, "nameserver "+up.Addr().String()+"\n")
	host := NewHostResolvers([]string{conf}, nil)
	host.port = up.Port()
	s, err := New(Config{Zone: "home.test", Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		Directory: fakeDir{vips: map[netip.Addr]bool{netip.MustParseAddr("127.0.0.1"): true}}, Host: host})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r, err := query(t, s.Addrs()[0], "example.org.", mdns.TypeA, "udp")
	if err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "198.51.100.7" {
		t.Fatalf("forwarded to the host's resolver: r=%v err=%v", r, err)
	}

	writeFile(t, conf, "# no resolver at all\n")
	host.mu.Lock()
	host.checked = time.Time{}
	host.stamp = ""
	host.mu.Unlock()
	r, err = query(t, s.Addrs()[0], "example.org.", mdns.TypeA, "udp")
	if err != nil || r.Rcode != mdns.RcodeRefused {
		t.Fatalf("with no host resolver: r=%v err=%v, want REFUSED", r, err)
	}
}
