package client

import (
	"testing"
	"time"

	"github.com/quic-go/quic-go/qlog"
)

// TestMTUTrace: the loop gets the latest result of a connection's path
// MTU discovery; a search that goes quiet counts as concluded at its last
// result, unless a newer result or the connection's end came first.
func TestMTUTrace(t *testing.T) {
	tr := &mtuTrace{ch: make(chan mtuUpdate, 1), settleAfter: 50 * time.Millisecond}
	tr.RecordEvent(qlog.MTUUpdated{Value: 1300})
	tr.RecordEvent(qlog.MTUUpdated{Value: 1340}) // replaces the unread 1300
	if u := <-tr.ch; u != (mtuUpdate{payload: 1340}) {
		t.Fatalf("first read %+v, want 1340 under way", u)
	}
	select {
	case u := <-tr.ch:
		if u != (mtuUpdate{payload: 1340, done: true}) {
			t.Fatalf("after the search went quiet: %+v, want 1340 concluded", u)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a quiet search was never concluded")
	}

	tr.RecordEvent(qlog.MTUUpdated{Value: 1400, Done: true})
	if u := <-tr.ch; u != (mtuUpdate{payload: 1400, done: true}) {
		t.Fatalf("concluded by quic-go: %+v", u)
	}

	tr.RecordEvent(qlog.MTUUpdated{Value: 1250})
	<-tr.ch
	tr.Close()
	select {
	case u := <-tr.ch:
		t.Fatalf("a closed connection's search concluded: %+v", u)
	case <-time.After(200 * time.Millisecond):
	}
}
