package dns

import (
	"context"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

type fakeDir struct {
	vips map[netip.Addr]bool
}

var (
	lap4 = netip.MustParseAddr("192.0.2.130")
	lap6 = netip.MustParseAddr("2001:db8:100::5")
)

func (d fakeDir) LookupName(name string) (netip.Addr, netip.Addr, bool) {
	switch name {
	case "laptop":
		return lap4, lap6, true
	case "sensor":
		return netip.MustParseAddr("192.0.2.131"), netip.Addr{}, true
	}
	return netip.Addr{}, netip.Addr{}, false
}

func (d fakeDir) LookupAddr(a netip.Addr) (string, bool) {
	switch a {
	case lap4, lap6:
		return "laptop", true
	}
	return "", false
}

func (d fakeDir) IsVIP(a netip.Addr) bool { return d.vips[a] }

func start(t *testing.T, dir Directory, upstreams ...netip.AddrPort) netip.AddrPort {
	t.Helper()
	s, err := New(Config{Zone: "Home.Test", Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Directory: dir, Upstreams: upstreams})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); s.Close() })
	return s.Addrs()[0]
}

func query(t *testing.T, srv netip.AddrPort, name string, qtype uint16, netw string) (*mdns.Msg, error) {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	c := &mdns.Client{Net: netw, Timeout: 300 * time.Millisecond}
	r, _, err := c.Exchange(m, srv.String())
	return r, err
}

func TestAnswers(t *testing.T) {
	up := startUpstream(t)
	srv := start(t, fakeDir{vips: map[netip.Addr]bool{netip.MustParseAddr("127.0.0.1"): true}}, up)
	rev4, _ := mdns.ReverseAddr(lap4.String())
	rev6, _ := mdns.ReverseAddr(lap6.String())
	unknownRev, _ := mdns.ReverseAddr("192.0.2.200")
	tests := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer string
	}{
		{"laptop.home.test.", mdns.TypeA, mdns.RcodeSuccess, "192.0.2.130"},
		{"LAPTOP.Home.Test.", mdns.TypeAAAA, mdns.RcodeSuccess, "2001:db8:100::5"},
		{"sensor.home.test.", mdns.TypeAAAA, mdns.RcodeSuccess, ""}, // NODATA
		{"nobody.home.test.", mdns.TypeA, mdns.RcodeNameError, ""},
		{"a.laptop.home.test.", mdns.TypeA, mdns.RcodeNameError, ""},
		{rev4, mdns.TypePTR, mdns.RcodeSuccess, "laptop.home.test."},
		{rev6, mdns.TypePTR, mdns.RcodeSuccess, "laptop.home.test."},
		{unknownRev, mdns.TypePTR, mdns.RcodeSuccess, "forwarded."},
		{"example.org.", mdns.TypeA, mdns.RcodeSuccess, "198.51.100.7"},
	}
	for _, tt := range tests {
		for _, netw := range []string{"udp", "tcp"} {
			r, err := query(t, srv, tt.name, tt.qtype, netw)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.name, netw, err)
			}
			if r.Rcode != tt.rcode {
				t.Errorf("%s %s: rcode %s, want %s", tt.name, netw, mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode])
			}
			got := ""
			if len(r.Answer) > 0 {
				switch rr := r.Answer[0].(type) {
				case *mdns.A:
					got = rr.A.String()
				case *mdns.AAAA:
					got = rr.AAAA.String()
				case *mdns.PTR:
					got = rr.Ptr
				}
			}
			if got != tt.answer {
				t.Errorf("%s %s: answer %q, want %q", tt.name, netw, got, tt.answer)
			}
		}
	}
}

func TestNoAnswerOutsideTunnel(t *testing.T) {
	srv := start(t, fakeDir{})
	for _, netw := range []string{"udp", "tcp"} {
		if r, err := query(t, srv, "laptop.home.test.", mdns.TypeA, netw); err == nil {
			t.Fatalf("%s: got an answer from outside the tunnel: %v", netw, r)
		}
	}
}

func TestRefusedWithoutUpstream(t *testing.T) {
	srv := start(t, fakeDir{vips: map[netip.Addr]bool{netip.MustParseAddr("127.0.0.1"): true}})
	r, err := query(t, srv, "example.org.", mdns.TypeA, "udp")
	if err != nil || r.Rcode != mdns.RcodeRefused {
		t.Fatalf("r=%v err=%v", r, err)
	}
}

func TestReverseAddr(t *testing.T) {
	for _, s := range []string{"192.0.2.1", "0.0.0.0", "2001:db8::1", "fdff:ffff:ffff::abcd"} {
		a := netip.MustParseAddr(s)
		name, _ := mdns.ReverseAddr(s)
		got, ok := reverseAddr(name)
		if !ok || got != a {
			t.Errorf("%s: %v %v", name, got, ok)
		}
	}
	for _, bad := range []string{"1.2.3.in-addr.arpa.", "x.1.2.3.in-addr.arpa.", "g.0.ip6.arpa.", "300.2.0.192.in-addr.arpa."} {
		if _, ok := reverseAddr(bad); ok {
			t.Errorf("%s accepted", bad)
		}
	}
}

// FuzzAnswer feeds arbitrary DNS messages to the answering logic: it must
// not panic, and every reply must pack.
func FuzzAnswer(f *testing.F) {
	for _, q := range []struct {
		n string
		t uint16
	}{{"laptop.home.test.", mdns.TypeA}, {"130.2.0.192.in-addr.arpa.", mdns.TypePTR}, {"home.test.", mdns.TypeSOA}, {"x.home.test.", mdns.TypeMX}} {
		m := new(mdns.Msg)
		m.SetQuestion(q.n, q.t)
		b, _ := m.Pack()
		f.Add(b)
	}
	s, _ := New(Config{Zone: "home.test", Directory: fakeDir{}})
	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(mdns.Msg)
		if err := req.Unpack(data); err != nil {
			return
		}
		if len(req.Question) == 1 && !mdns.IsSubDomain(s.zone, mdns.CanonicalName(req.Question[0].Name)) && req.Question[0].Qtype != mdns.TypePTR {
			return // would be forwarded (refused: no upstreams) - still fine, but skip network-free check
		}
		resp := s.Answer(context.Background(), req)
		if resp == nil {
			if !req.Response {
				t.Fatal("no reply to a query")
			}
			return
		}
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("reply does not pack: %v", err)
		}
		if resp.Id != req.Id {
			t.Fatal("reply id differs")
		}
	})
}

// startUpstream runs a resolver on loopback that answers every A query with
// 198.51.100.7 and every PTR with "forwarded.".
func startUpstream(t *testing.T) netip.AddrPort {
	t.Helper()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		hdr := mdns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: mdns.ClassINET, Ttl: 5}
		switch q.Qtype {
		case mdns.TypeA:
			m.Answer = append(m.Answer, &mdns.A{Hdr: hdr, A: []byte{198, 51, 100, 7}})
		case mdns.TypePTR:
			m.Answer = append(m.Answer, &mdns.PTR{Hdr: hdr, Ptr: "forwarded."})
		}
		w.WriteMsg(m)
	})
	pc := &mdns.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: h}
	ready := make(chan struct{})
	pc.NotifyStartedFunc = func() { close(ready) }
	done := make(chan struct{})
	go func() { defer close(done); pc.ListenAndServe() }()
	<-ready
	t.Cleanup(func() { pc.Shutdown(); <-done })
	return pc.PacketConn.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort()
}
