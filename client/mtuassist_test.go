package client

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
)

func TestAssistInterval(t *testing.T) {
	for _, tc := range []struct {
		rtt, want time.Duration
	}{
		{0, assistMin},
		{time.Millisecond, assistMin},
		{4 * time.Millisecond, 21 * time.Millisecond},
		{60 * time.Millisecond, 315 * time.Millisecond},
		{time.Second, assistCeil},
	} {
		if got := assistInterval(tc.rtt); got != tc.want {
			t.Errorf("assistInterval(%v) = %v, want %v", tc.rtt, got, tc.want)
		}
	}
}

// TestSearchAssist: on an otherwise idle control connection, the node's
// datagrams carry quic-go's path MTU probes, so the search concludes
// within a fraction of a second on loopback instead of at heartbeat pace;
// once it concluded, datagrams go on for the home agent's search for as
// long again (at least four intervals), then stop, and Close waits for
// the assist.
func TestSearchAssist(t *testing.T) {
	haCert, tlsConf := controlTLS(t)
	lpc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lpc.Close()
	ln, err := quic.Listen(lpc, binding.ServerTLSConfig(haCert), &quic.Config{InitialPacketSize: binding.InitialPacketSize, EnableDatagrams: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var datagrams atomic.Int64
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		defer c.CloseWithError(0, "")
		go func() {
			if st, err := c.AcceptStream(ctx); err == nil {
				io.Copy(io.Discard, st)
			}
		}()
		for {
			if _, err := c.ReceiveDatagram(ctx); err != nil {
				return
			}
			datagrams.Add(1)
		}
	}()

	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	defer tr.Close()
	s, err := dialSession(ctx, tr, lpc.LocalAddr().(*net.UDPAddr).AddrPort(), tlsConf, quicConfig(time.Minute), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// The node's stream is open but carries nothing: only the assist sends.
	var last mtuUpdate
	for !last.done {
		select {
		case last = <-s.MTUUpdates():
		case <-ctx.Done():
			t.Fatalf("the path MTU search did not conclude on an idle connection (last %+v, %d datagrams)", last, datagrams.Load())
		}
	}
	if last.payload <= binding.InitialPacketSize {
		t.Fatalf("search concluded at %d bytes, want above the initial %d on loopback", last.payload, binding.InitialPacketSize)
	}
	concludedAt := time.Now()
	sent := datagrams.Load()
	if sent == 0 {
		t.Fatal("the search concluded without the assist's datagrams")
	}
	// The tail for the home agent's search: more datagrams, then none.
	select {
	case <-s.assistDone:
	case <-time.After(assistMax):
		t.Fatal("the assist did not stop after the search concluded")
	}
	tail := datagrams.Load()
	if time.Since(concludedAt) > assistMax/2 {
		t.Fatalf("the assist went on %v after the search concluded", time.Since(concludedAt))
	}
	time.Sleep(5 * assistMin)
	if after := datagrams.Load(); after > tail+1 {
		t.Fatalf("%d datagrams after the assist stopped", after-tail)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("search concluded at %d bytes after %d datagrams, %d more for the home agent's search", last.payload, sent, tail-sent)
	cancel()
	<-served
}
