package streamprobe

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type result struct {
	rep *Report
	err error
}

// runPair runs both ends. A UDP listener is bound before its peer starts
// (datagrams sent to an unbound port are lost, as they should be); TCP
// dials retry until the listener is up.
func runPair(t *testing.T, ctx context.Context, send, recv Endpoint, scfg, rcfg Config) (s, r result) {
	t.Helper()
	run := func(ep Endpoint, cfg Config, res *result, conn net.Conn) {
		if conn == nil {
			res.rep, res.err = Run(ctx, ep, cfg)
			return
		}
		defer conn.Close()
		if ep.Role == RoleSend {
			res.rep, res.err = Send(ctx, conn, cfg)
		} else {
			res.rep, res.err = Receive(ctx, conn, cfg)
		}
	}
	var sc, rc net.Conn
	var err error
	if send.Network == "udp" && send.Listen != "" {
		sc, err = Connect(ctx, send)
	}
	if recv.Network == "udp" && recv.Listen != "" {
		rc, err = Connect(ctx, recv)
	}
	if err != nil {
		t.Fatal(err)
	}
	if recv.Network == "udp" && recv.Connect != "" {
		rcfg.SayHello = true
	}
	var wg sync.WaitGroup
	wg.Go(func() { run(send, scfg, &s, sc) })
	wg.Go(func() { run(recv, rcfg, &r, rc) })
	wg.Wait()
	return s, r
}

// freeAddr reserves a loopback port for a listener started by Run.
func freeAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestLoopbackBothWays(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		for _, senderListens := range []bool{true, false} {
			name := network + "/receiver-listens"
			if senderListens {
				name = network + "/sender-listens"
			}
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				addr := freeAddr(t, network)
				send := Endpoint{Role: RoleSend, Network: network, Connect: addr}
				recv := Endpoint{Role: RoleRecv, Network: network, Listen: addr}
				if senderListens {
					send.Listen, send.Connect, recv.Listen, recv.Connect = addr, "", "", addr
				}
				cfg := Config{Interval: time.Millisecond, RecordSize: 512, Duration: 300 * time.Millisecond, GapThreshold: time.Second}
				s, r := runPair(t, ctx, send, recv, cfg, cfg)
				if s.err != nil || r.err != nil {
					t.Fatalf("send err %v, recv err %v\nrecv report %s", s.err, r.err, r.rep.JSON())
				}
				// 300 ms at 1 ms: up to 300 records; a loaded machine's
				// timers fire late (88 were seen under a parallel test
				// run), so only ask that the stream really flowed.
				if s.rep.Records < 20 || r.rep.Records != s.rep.Records || r.rep.Bytes != s.rep.Records*512 {
					t.Fatalf("sent %d records, received %d (%d bytes)", s.rep.Records, r.rep.Records, r.rep.Bytes)
				}
				if !r.rep.Complete || !r.rep.Verified || r.rep.SHA256 != s.rep.SHA256 || r.rep.Broken() || s.rep.Broken() {
					t.Fatalf("stream not verified:\nsend %s\nrecv %s", s.rep.JSON(), r.rep.JSON())
				}
				if r.rep.Latency == nil || r.rep.Latency.MaxMS > 1000 {
					t.Fatalf("latency %+v", r.rep.Latency)
				}
			})
		}
	}
}

// pauser is a conn whose writes block once, for pause, before record
// number at (counting writes).
type pauser struct {
	net.Conn
	at     int
	pause  time.Duration
	writes int
}

func (p *pauser) Write(b []byte) (int, error) {
	if p.writes == p.at {
		time.Sleep(p.pause) // fake time inside the synctest bubble
	}
	p.writes++
	return p.Conn.Write(b)
}

func TestGapMeasured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		cfg := Config{Interval: time.Millisecond, Duration: 200 * time.Millisecond, GapThreshold: 10 * time.Millisecond}
		var s, r result
		var wg sync.WaitGroup
		wg.Go(func() {
			s.rep, s.err = Send(context.Background(), &pauser{Conn: a, at: 50, pause: 250 * time.Millisecond}, cfg)
			a.Close()
		})
		wg.Go(func() { r.rep, r.err = Receive(context.Background(), b, cfg) })
		wg.Wait()
		if s.err != nil || r.err != nil {
			t.Fatalf("send %v recv %v", s.err, r.err)
		}
		if len(r.rep.Gaps) != 1 {
			t.Fatalf("gaps %+v, want one", r.rep.Gaps)
		}
		g := r.rep.Gaps[0]
		// Record 49 arrives at 49 ms, record 50 is written at 50+250 ms.
		if g.AfterSeq != 49 || g.BeforeSeq != 50 || g.OffsetMS != 49 || g.DurationMS != 251 {
			t.Fatalf("gap %+v, want after 49 at 49 ms lasting 251 ms", g)
		}
		if !r.rep.Verified {
			t.Fatalf("not verified: %s", r.rep.JSON())
		}
	})
}

// stopper is a conn whose writes block forever from write number at.
type stopper struct {
	net.Conn
	at     int
	writes int
	block  chan struct{}
}

func (s *stopper) Write(b []byte) (int, error) {
	if s.writes == s.at {
		<-s.block
		return 0, net.ErrClosed
	}
	s.writes++
	return s.Conn.Write(b)
}

func TestReceiverDetectsStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		cfg := Config{Interval: time.Millisecond, IdleTimeout: 2 * time.Second}
		ctx, cancel := context.WithCancel(context.Background())
		st := &stopper{Conn: a, at: 100, block: make(chan struct{})}
		var progress []Progress
		rcfg := cfg
		rcfg.Progress = func(p Progress) { progress = append(progress, p) }
		rcfg.ProgressInterval = 500 * time.Millisecond
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = Send(ctx, st, cfg) })
		start := time.Now()
		rep, err := Receive(context.Background(), b, rcfg)
		took := time.Since(start)
		close(st.block)
		cancel()
		wg.Wait()
		if !errors.Is(err, ErrStalled) || !rep.Stalled || !rep.Broken() {
			t.Fatalf("err %v, report %s; want a stall", err, rep.JSON())
		}
		if want := 99*time.Millisecond + 2*time.Second; took != want {
			t.Fatalf("stall detected after %v, want %v", took, want)
		}
		if rep.Records != 100 || len(rep.Gaps) != 1 || !rep.Gaps[0].Open || rep.Gaps[0].DurationMS != 2000 {
			t.Fatalf("records %d gaps %+v", rep.Records, rep.Gaps)
		}
		if len(progress) < 4 || !progress[len(progress)-1].Done || progress[len(progress)-1].Records != 100 {
			t.Fatalf("progress %+v", progress)
		}
		if last := progress[len(progress)-2]; last.SinceLast < time.Second {
			t.Fatalf("progress during the stall shows SinceLast %v", last.SinceLast)
		}
	})
}

func TestSenderDetectsReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		// Read a little, then abort with RST.
		buf := make([]byte, 1000)
		_, _ = c.Read(buf)
		_ = c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rep, err := Send(context.Background(), c, Config{Interval: time.Millisecond, Duration: 10 * time.Second})
	if !errors.Is(err, ErrReset) || rep.Resets != 1 || rep.Complete || !rep.Broken() {
		t.Fatalf("err %v report %s; want a reset", err, rep.JSON())
	}
}

func TestReceiverCancelAndIncomplete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rep, err := Receive(ctx, b, Config{})
		if !errors.Is(err, context.DeadlineExceeded) || rep.Complete || !rep.Broken() {
			t.Fatalf("err %v report %+v", err, rep)
		}
		a.Close()
		a2, b2 := net.Pipe()
		go func() {
			a := a2
			rec, _ := Append(nil, Record{Kind: KindData, Payload: []byte{}})
			a.Write(rec)
			a.Close()
		}()
		rep, err = Receive(context.Background(), b2, Config{})
		if !errors.Is(err, ErrIncomplete) || rep.Records != 1 {
			t.Fatalf("err %v, report %+v; want ErrIncomplete after one record", err, rep)
		}
	})
}

func TestReceiverRejectsBadStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Garbage on TCP.
		a, b := net.Pipe()
		go func() { a.Write(make([]byte, 64)); a.Close() }()
		if _, err := Receive(context.Background(), b, Config{}); !errors.Is(err, ErrBadRecord) {
			t.Fatalf("garbage: %v, want ErrBadRecord", err)
		}
		// An end record that does not match what was sent.
		a2, b2 := net.Pipe()
		go func() {
			a := a2
			p := make([]byte, 10)
			FillPattern(p, 0)
			rec, _ := Append(nil, Record{Kind: KindData, Payload: p})
			a.Write(rec)
			end, _ := Append(nil, Record{Kind: KindEnd, Seq: 1, Payload: EndInfo{Bytes: uint64(len(rec)), Records: 1}.AppendEnd(nil)})
			a.Write(end)
			a.Close()
		}()
		rep, err := Receive(context.Background(), b2, Config{})
		if !errors.Is(err, ErrMismatch) || rep.Verified || !rep.Complete {
			t.Fatalf("mismatch: %v %+v", err, rep)
		}
		// A record whose payload was altered.
		a3, b3 := net.Pipe()
		go func() {
			a := a3
			p := make([]byte, 10)
			FillPattern(p, 0)
			p[3] ^= 0x40
			rec, _ := Append(nil, Record{Kind: KindData, Payload: p})
			a.Write(rec)
			a.Close()
		}()
		rep, _ = Receive(context.Background(), b3, Config{})
		if rep.Corrupt != 1 {
			t.Fatalf("corrupt = %d, want 1", rep.Corrupt)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	bad := []Config{
		{Interval: time.Microsecond},
		{RecordSize: 10},
		{RecordSize: MaxRecordSize + 1},
		{Duration: -1},
		{GapThreshold: -1},
		{ProgressInterval: -1},
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	for _, c := range bad {
		if _, err := Send(context.Background(), a, c); !errors.Is(err, ErrConfig) {
			t.Errorf("Send(%+v) = %v, want ErrConfig", c, err)
		}
		if _, err := Receive(context.Background(), b, c); !errors.Is(err, ErrConfig) {
			t.Errorf("Receive(%+v) = %v, want ErrConfig", c, err)
		}
	}
	badEP := []Endpoint{
		{Role: "x", Network: "tcp", Listen: ":1"},
		{Role: RoleSend, Network: "sctp", Listen: ":1"},
		{Role: RoleSend, Network: "tcp"},
		{Role: RoleSend, Network: "tcp", Listen: ":1", Connect: "a:1"},
	}
	for _, ep := range badEP {
		if _, err := Run(context.Background(), ep, Config{}); !errors.Is(err, ErrConfig) {
			t.Errorf("Run(%+v) = %v, want ErrConfig", ep, err)
		}
	}
}

func TestReportJSON(t *testing.T) {
	r := &Report{Role: RoleRecv, Gaps: []Gap{{DurationMS: 12.5, Open: true}}, Latency: &Latency{MaxMS: 1}}
	var back map[string]any
	if err := json.Unmarshal(r.JSON(), &back); err != nil {
		t.Fatal(err)
	}
	gaps := back["gaps"].([]any)
	if back["role"] != "recv" || gaps[0].(map[string]any)["duration_ms"] != 12.5 {
		t.Fatalf("json %s", r.JSON())
	}
}
