package tunnel

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestIdleProbeRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second, 1500 * time.Millisecond, 38 * time.Second, MaxIdleProbeDelay, time.Hour} {
		req, err := NewIdleProbeRequest(d)
		if err != nil {
			t.Fatal(err)
		}
		want := min((d + time.Second - 1).Truncate(time.Second), MaxIdleProbeDelay)
		if req.Delay != want {
			t.Errorf("NewIdleProbeRequest(%v).Delay = %v, want %v", d, req.Delay, want)
		}
		b := req.Marshal()
		if len(b) != IdleProbeSize || classify(b) != kindIdleProbe {
			t.Fatalf("marshalled %x: size %d, kind %d", b, len(b), classify(b))
		}
		got, err := ParseIdleProbe(b)
		if err != nil || got != req {
			t.Errorf("ParseIdleProbe(%x) = %+v, %v; want %+v", b, got, err, req)
		}
	}
	a, _ := NewIdleProbeRequest(time.Second)
	b, _ := NewIdleProbeRequest(time.Second)
	if a.Nonce == b.Nonce {
		t.Error("two requests share a nonce")
	}
}

func TestParseIdleProbeRejects(t *testing.T) {
	good := IdleProbe{Op: IdleProbeReply, Delay: 30 * time.Second, Nonce: [16]byte{1, 2, 3}}.Marshal()
	mutate := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", good[:IdleProbeSize-1]},
		{"long", append(bytes.Clone(good), 0)},
		{"kind", mutate(0, 4)},
		{"magic", mutate(2, 'X')},
		{"version", mutate(4, 2)},
		{"op 0", mutate(5, 0)},
		{"op 3", mutate(5, 3)},
		{"delay too long", mutate(6, 0xff)},
	}
	for _, tt := range tests {
		if _, err := ParseIdleProbe(tt.b); !errors.Is(err, ErrNotIdleProbe) {
			t.Errorf("%s: ParseIdleProbe(%x) error %v, want ErrNotIdleProbe", tt.name, tt.b, err)
		}
	}
}

// FuzzParseIdleProbe: the parser never panics, accepts only messages of
// exactly IdleProbeSize that marshal back to themselves, and never lets
// through a datagram the demux would give to WireGuard or QUIC.
func FuzzParseIdleProbe(f *testing.F) {
	f.Add(IdleProbe{Op: IdleProbeRequest, Delay: 45 * time.Second}.Marshal())
	f.Add(IdleProbe{Op: IdleProbeReply}.Marshal())
	f.Add([]byte{IdleProbeKind, 'h', 'i', 'p'})
	f.Add([]byte{4, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseIdleProbe(b)
		if err != nil {
			if !errors.Is(err, ErrNotIdleProbe) {
				t.Fatalf("error %v does not wrap ErrNotIdleProbe", err)
			}
			return
		}
		if len(b) != IdleProbeSize || classify(b) != kindIdleProbe {
			t.Fatalf("accepted %x of size %d, kind %d", b, len(b), classify(b))
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatalf("%x parsed to %+v, which marshals to %x", b, p, p.Marshal())
		}
	})
}

// sentProbe is one reply the responder sent.
type sentProbe struct {
	b  []byte
	to netip.AddrPort
	at time.Time
}

type probeSink struct {
	mu   sync.Mutex
	sent []sentProbe
	ch   chan struct{}
}

func (s *probeSink) send(b []byte, to netip.AddrPort, _ netip.Addr) error {
	s.mu.Lock()
	s.sent = append(s.sent, sentProbe{bytes.Clone(b), to, time.Now()})
	s.mu.Unlock()
	s.ch <- struct{}{}
	return nil
}

func TestIdleProbeResponderAnswersAfterDelay(t *testing.T) {
	sink := &probeSink{ch: make(chan struct{}, 16)}
	r := newIdleProbeResponder(IdleProbeLimits{}, sink.send, slog.New(slog.DiscardHandler))
	defer r.close()
	from := netip.MustParseAddrPort("198.51.100.7:40000")
	req, err := NewIdleProbeRequest(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.handle(req.Marshal(), from, netip.Addr{})
	select {
	case <-sink.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
	}
	sink.mu.Lock()
	got := sink.sent[0]
	sink.mu.Unlock()
	if el := got.at.Sub(start); el < time.Second {
		t.Errorf("reply after %v, before the 1 s delay", el)
	}
	if got.to != from || len(got.b) != IdleProbeSize {
		t.Errorf("reply of %d bytes to %v, want %d bytes to %v", len(got.b), got.to, IdleProbeSize, from)
	}
	p, err := ParseIdleProbe(got.b)
	if err != nil || p.Op != IdleProbeReply || p.Nonce != req.Nonce {
		t.Errorf("reply %+v, %v; want op reply with nonce %x", p, err, req.Nonce)
	}
	if st := r.snapshot(); st.Answered != 1 || st.Refused != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestIdleProbeResponderLimits(t *testing.T) {
	sink := &probeSink{ch: make(chan struct{}, 64)}
	r := newIdleProbeResponder(IdleProbeLimits{Pending: 5, PerSource: 2, Rate: 4}, sink.send, slog.New(slog.DiscardHandler))
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	req := IdleProbe{Op: IdleProbeRequest, Delay: time.Minute}.Marshal()
	a := netip.MustParseAddrPort("198.51.100.7:1")
	a2 := netip.MustParseAddrPort("198.51.100.7:2")
	b := netip.MustParseAddrPort("198.51.100.8:1")
	c := netip.MustParseAddrPort("[2001:db8::9]:1")
	r.handle(req, a, netip.Addr{})
	r.handle(req, a2, netip.Addr{})
	r.handle(req, a, netip.Addr{}) // third from one address: refused
	r.handle(req, b, netip.Addr{})
	r.handle(req, c, netip.Addr{})
	r.handle(req, c, netip.Addr{}) // fifth in one second: refused
	if st := r.snapshot(); st.Refused != 2 || len(r.pending) != 4 {
		t.Fatalf("after the first second: stats %+v, %d pending; want 2 refused, 4 pending", st, len(r.pending))
	}
	now = now.Add(time.Second)
	r.handle(req, c, netip.Addr{})
	r.handle(req, netip.MustParseAddrPort("203.0.113.1:1"), netip.Addr{}) // pending full
	reply := IdleProbe{Op: IdleProbeReply}.Marshal()
	r.handle(reply, b, netip.Addr{}) // a reply is never answered
	r.handle([]byte{IdleProbeKind}, b, netip.Addr{})
	st := r.snapshot()
	if st.Refused != 3 || st.Malformed != 2 || len(r.pending) != 5 {
		t.Fatalf("stats %+v, %d pending; want 3 refused, 2 malformed, 5 pending", st, len(r.pending))
	}
	r.close()
	r.handle(req, netip.MustParseAddrPort("203.0.113.2:1"), netip.Addr{})
	if len(r.pending) != 0 || len(sink.sent) != 0 {
		t.Fatalf("after close: %d pending, %d sent", len(r.pending), len(sink.sent))
	}
}

func TestDemuxIdleProbes(t *testing.T) {
	m := newDemux()
	var got [][]byte
	m.probe = func(b []byte, _ netip.AddrPort, _ netip.Addr) { got = append(got, bytes.Clone(b)) }
	probe := IdleProbe{Op: IdleProbeRequest}.Marshal()
	bufs := [][]byte{{4, 0, 0, 0, 1}, probe, {0xc0, 1}}
	sizes := []int{5, len(probe), 2}
	wg := m.sort(bufs, sizes, 3, func(int) (netip.AddrPort, netip.Addr) {
		return netip.MustParseAddrPort("192.0.2.1:5"), netip.Addr{}
	})
	if wg != 1 || sizes[1] != 0 || len(got) != 1 || !bytes.Equal(got[0], probe) {
		t.Fatalf("wg %d, sizes %v, probes %x", wg, sizes, got)
	}
	if st := m.stats(); st.IdleProbes != 1 || st.WireGuard != 1 || st.QUIC != 1 || st.Total() != 3 {
		t.Fatalf("stats %+v", st)
	}
	// Without a responder an idle probe is dropped.
	m2 := newDemux()
	sizes = []int{len(probe)}
	m2.sort([][]byte{probe}, sizes, 1, func(int) (netip.AddrPort, netip.Addr) { return netip.AddrPort{}, netip.Addr{} })
	if st := m2.stats(); st.Dropped != 1 || st.IdleProbes != 0 {
		t.Fatalf("without responder: stats %+v", st)
	}
}
