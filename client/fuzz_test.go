package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
)

// fuzzStream is a control stream whose input is fixed bytes.
type fuzzStream struct {
	r io.Reader
	w bytes.Buffer
}

func (f *fuzzStream) Read(p []byte) (int, error)  { return f.r.Read(p) }
func (f *fuzzStream) Write(p []byte) (int, error) { return f.w.Write(p) }
func (f *fuzzStream) Close() error                { return nil }

func frames(ms ...binding.Message) []byte {
	var b []byte
	for _, m := range ms {
		b, _ = binding.AppendFrame(b, m)
	}
	return b
}

// FuzzSessionInput feeds whatever a (malicious or broken) home agent
// could send on the control stream to the session's reader: it must end
// with an error at the end of the input, never panic or hang, and answer
// every well-formed Heartbeat with a HeartbeatAck echoing it.
func FuzzSessionInput(f *testing.F) {
	f.Add(frames(&binding.Heartbeat{Nonce: 7, Time: 9}))
	f.Add(frames(&binding.RegisterAck{Status: binding.StatusAccepted, VIP4: netip.MustParseAddr("192.0.2.130")}, &binding.BindingAck{Sequence: 3}))
	f.Add(frames(&binding.Switch{Addrs: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.2:51830")}}, &binding.Deregister{Status: binding.StatusRevoked}))
	f.Add(frames(&binding.HeartbeatAck{Nonce: 1}, &binding.EnrollAck{Status: binding.StatusBadToken}))
	f.Add([]byte{1, 200, 0, 0})     // unknown type, skipped
	f.Add([]byte{2, 1, 0, 0})       // other version
	f.Add([]byte{1, 2, 0xff, 0xff}) // oversized
	f.Fuzz(func(t *testing.T, in []byte) {
		st := &fuzzStream{r: bytes.NewReader(in)}
		s := newSession(nil, st, netip.MustParseAddrPort("192.0.2.1:1"), slog.New(slog.DiscardHandler))
		done := make(chan struct{})
		go func() { s.readLoop(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("reader did not end at the end of input")
		}
		if s.Err() == nil {
			t.Fatal("session alive after its stream ended")
		}
		// Every Heartbeat before the first broken frame is answered, in
		// order (unknown types are skipped, anything else ends the stream).
		var want []binding.HeartbeatAck
		r := binding.NewReader(bytes.NewReader(in), 0)
		for {
			m, err := r.ReadMessage()
			if errors.Is(err, binding.ErrUnknownType) {
				continue
			}
			if err != nil {
				break
			}
			if hb, ok := m.(*binding.Heartbeat); ok {
				want = append(want, binding.HeartbeatAck{Nonce: hb.Nonce, Time: hb.Time})
			}
		}
		out := binding.NewReader(&st.w, 0)
		for i, w := range want {
			var got binding.HeartbeatAck
			if _, err := out.Next(); err != nil {
				t.Fatalf("heartbeat %d not answered: %v", i, err)
			}
			if err := out.Decode(&got); err != nil || got.Nonce != w.Nonce || got.Time != w.Time {
				t.Fatalf("heartbeat %d answered with %+v (%v), want %+v", i, got, err, w)
			}
		}
		s.Close()
	})
}

// FuzzStateFile loads arbitrary state.json content: it is refused with an
// error or, once accepted, survives Save and Load unchanged.
func FuzzStateFile(f *testing.F) {
	good, _ := json.Marshal(Persisted{Version: stateVersion, DeviceID: "d1", HomeAgent: HomeAgent{Addrs: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:51830")}},
		Config: &NetConfig{VIP4: netip.MustParseAddr("192.0.2.130"), Routes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/25")}}, Sequence: 9})
	f.Add(good)
	f.Add([]byte(`{"version":1,"home_agent":{"addrs":["[2001:db8::1]:1"],"fingerprint":"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"home_agent":{"addrs":[]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		d, err := OpenStateDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, stateFile), in, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := d.Load()
		if err != nil {
			return
		}
		if err := d.Save(st); err != nil {
			t.Fatalf("saving an accepted state: %v", err)
		}
		again, err := d.Load()
		if err != nil {
			t.Fatalf("reloading a saved state: %v", err)
		}
		if !reflect.DeepEqual(normState(st), normState(again)) {
			t.Fatalf("round trip changed the state:\n%+v\n%+v", st, again)
		}
	})
}

// normState makes states comparable with DeepEqual (time zones and nil vs
// empty slices do not matter).
func normState(p Persisted) Persisted {
	p.EnrolledAt = p.EnrolledAt.UTC()
	if p.Config != nil {
		c := *p.Config
		if len(c.DNS) == 0 {
			c.DNS = nil
		}
		if len(c.Routes) == 0 {
			c.Routes = nil
		}
		p.Config = &c
	}
	if len(p.HomeAgent.Addrs) == 0 {
		p.HomeAgent.Addrs = nil
	}
	return p
}

// FuzzParsePreference: accepted preferences print back to themselves.
func FuzzParsePreference(f *testing.F) {
	for _, s := range []string{"wired,wifi,cellular", "cellular", "wifi,wifi", "WLAN, ethernet", "", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePreference(s)
		if err != nil {
			return
		}
		q, err := ParsePreference(p.String())
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("%q -> %v -> %v (%v)", s, p, q, err)
		}
	})
}
