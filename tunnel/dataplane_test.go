package tunnel

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestPeerValidate(t *testing.T) {
	priv, _ := GeneratePrivateKey()
	pub := priv.PublicKey()
	good := Peer{
		PublicKey:           pub,
		AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::7/128")},
		Endpoint:            netip.MustParseAddrPort("198.51.100.1:51820"),
		PersistentKeepalive: 25 * time.Second,
	}
	tests := []struct {
		name  string
		edit  func(*Peer)
		valid bool
	}{
		{"good", func(*Peer) {}, true},
		{"no endpoint yet", func(p *Peer) { p.Endpoint = netip.AddrPort{} }, true},
		{"no allowed IPs", func(p *Peer) { p.AllowedIPs = nil }, true},
		{"zero key", func(p *Peer) { p.PublicKey = Key{} }, false},
		{"invalid prefix", func(p *Peer) { p.AllowedIPs = []netip.Prefix{{}} }, false},
		{"bits out of range", func(p *Peer) {
			p.AllowedIPs = []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr("192.0.2.1"), 33)}
		}, false},
		{"port 0", func(p *Peer) { p.Endpoint = netip.MustParseAddrPort("198.51.100.1:0") }, false},
		{"unspecified endpoint", func(p *Peer) { p.Endpoint = netip.MustParseAddrPort("0.0.0.0:51820") }, false},
		{"multicast endpoint", func(p *Peer) { p.Endpoint = netip.MustParseAddrPort("[ff02::1]:51820") }, false},
		{"negative keepalive", func(p *Peer) { p.PersistentKeepalive = -time.Second }, false},
		{"keepalive too long", func(p *Peer) { p.PersistentKeepalive = MaxPersistentKeepalive + time.Second }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			tt.edit(&p)
			err := p.Validate()
			if tt.valid && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.valid && !errors.Is(err, ErrInvalidPeer) {
				t.Fatalf("Validate = %v, want ErrInvalidPeer", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	k, _ := GeneratePrivateKey()
	c, err := Config{InterfaceName: "homeip0", PrivateKey: k}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.MTU != DefaultMTU || c.Logger == nil {
		t.Fatalf("defaults not applied: %+v", c)
	}
	bad := []Config{
		{InterfaceName: "homeip0"},
		{PrivateKey: k},
		{InterfaceName: "a-name-longer-than-15", PrivateKey: k},
		{InterfaceName: "homeip0", PrivateKey: k, MTU: 500},
		{InterfaceName: "homeip0", PrivateKey: k, Addresses: []netip.Prefix{{}}},
		{InterfaceName: "homeip0", PrivateKey: k, Routes: []netip.Prefix{{}}},
	}
	for i, c := range bad {
		if _, err := c.withDefaults(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("config %d: %v, want ErrInvalidConfig", i, err)
		}
	}
	if _, err := (Config{TUNFD: 5, PrivateKey: k}).withDefaults(); err != nil {
		t.Fatalf("a TUN fd needs no interface name: %v", err)
	}
}

func TestUAPITextRoundTrip(t *testing.T) {
	priv, _ := GeneratePrivateKey()
	p := Peer{
		PublicKey:           priv.PublicKey(),
		AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::7/128")},
		Endpoint:            netip.MustParseAddrPort("[2001:db8::1]:51820"),
		PersistentKeepalive: 25 * time.Second,
	}
	// What wireguard-go's IpcGet prints for such a peer.
	get := "private_key=00\nlisten_port=51820\n" + peerUAPI(p) +
		"last_handshake_time_sec=1700000000\nlast_handshake_time_nsec=5\ntx_bytes=10\nrx_bytes=20\nprotocol_version=1\n"
	get = stripLine(get, "replace_allowed_ips=true\n")
	ps, err := parsePeersUAPI(get)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("%d peers", len(ps))
	}
	got := ps[0]
	if got.PublicKey != p.PublicKey || got.Endpoint != p.Endpoint || got.PersistentKeepalive != p.PersistentKeepalive ||
		len(got.AllowedIPs) != 2 || got.AllowedIPs[1] != p.AllowedIPs[1] || got.RxBytes != 20 || got.TxBytes != 10 ||
		!got.LastHandshake.Equal(time.Unix(1700000000, 5)) {
		t.Fatalf("parsed %+v from\n%s", got, get)
	}
	for _, bad := range []string{"public_key=zz\n", "public_key=" + p.PublicKey.hex() + "\nrx_bytes=-1\n", "junk\n"} {
		if _, err := parsePeersUAPI(bad); err == nil {
			t.Errorf("parsePeersUAPI(%q) accepted", bad)
		}
	}
}

func stripLine(s, line string) string {
	out := ""
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		l := s[:min(i+1, len(s))]
		s = s[len(l):]
		if l != line {
			out += l
		}
	}
	return out
}
