package main

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
	"github.com/homeip/homeip/internal/streamprobe"
)

// TestPlainStreamIntactWithoutMove is the control: the same stream
// between cn and mn, with no move, arrives complete and verified.
func TestPlainStreamIntactWithoutMove(t *testing.T) {
	t.Parallel()
	lab := labtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := lab.CN.Listen(ctx, "tcp", netip.AddrPortFrom(netlab.CN4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	var recv *streamprobe.Report
	var recvErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := streamprobe.Accept(ctx, ln)
		if err != nil {
			recvErr = err
			return
		}
		defer c.Close()
		recv, recvErr = streamprobe.Receive(ctx, c, streamprobe.Config{Interval: time.Millisecond})
	})
	c, err := lab.MN.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	send, sendErr := streamprobe.Send(ctx, c, streamprobe.Config{Interval: time.Millisecond, Duration: 500 * time.Millisecond})
	c.Close()
	wg.Wait()
	if sendErr != nil || recvErr != nil {
		t.Fatalf("send %v, recv %v", sendErr, recvErr)
	}
	if !recv.Verified || recv.Records != send.Records || recv.Records < 100 || recv.Broken() {
		t.Fatalf("control stream not intact:\n%s", recv.JSON())
	}
}

// TestPlainStreamBreaksOnMove is the problem homeip solves: a TCP stream
// between cn and mn's Wi-Fi address, through the NAT, with plain routing,
// does not survive mn moving to cellular, whichever end sends. (Its twin,
// in which homeip keeps the stream alive, lives with the end-to-end tests.)
func TestPlainStreamBreaksOnMove(t *testing.T) {
	t.Parallel()
	lab := labtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const idle = 1500 * time.Millisecond
	cases, err := runBaseline(ctx, lab, baselineOptions{Before: 500 * time.Millisecond, Idle: idle})
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 2 {
		t.Fatalf("%d cases, want mn receiving and mn sending", len(cases))
	}
	for _, c := range cases {
		t.Run(string(c.MNRole), func(t *testing.T) {
			if c.Observed.Addr() != netlab.WifiPublic4 {
				t.Errorf("cn saw mn as %v, want it behind the Wi-Fi NAT %v", c.Observed, netlab.WifiPublic4)
			}
			r := c.Receiver
			if r == nil || r.Records < 100 {
				t.Fatalf("the stream never flowed before the move: %+v", r)
			}
			if !c.Broke {
				t.Fatalf("stream survived the move without homeip:\nreceiver %s", r.JSON())
			}
			// Broken = reset or no more data, detected within a bound.
			if !errors.Is(c.RecvErr, streamprobe.ErrStalled) && !errors.Is(c.RecvErr, streamprobe.ErrReset) {
				t.Errorf("receiver ended with %v, want a stall or a reset", c.RecvErr)
			}
			if c.DetectedAfter > idle+time.Second {
				t.Errorf("break detected %v after the move, bound %v", c.DetectedAfter, idle+time.Second)
			}
			if !r.Broken() || r.Verified || r.Complete {
				t.Errorf("receiver report does not show a broken stream:\n%s", r.JSON())
			}
			if c.LastData.After(c.MovedAt.Add(idle)) {
				t.Errorf("data still arrived %v after the move", c.LastData.Sub(c.MovedAt))
			}
		})
	}
	if s := lab.State(); !s.WifiUp || s.CellUp {
		t.Errorf("baseline left mn in %+v, want back on Wi-Fi", s)
	}
}
