package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/streamprobe"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestStreamCommand runs both ends of the stream subcommand on loopback
// and reads their JSON reports.
func TestStreamCommand(t *testing.T) {
	addr := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var sendOut, recvOut, sendErr, recvErr bytes.Buffer
	var sendCode, recvCode int
	var wg sync.WaitGroup
	wg.Go(func() {
		recvCode = run(ctx, []string{"stream", "-role", "recv", "-listen", addr, "-progress", "100ms"}, &recvOut, &recvErr)
	})
	wg.Go(func() {
		sendCode = run(ctx, []string{"stream", "-role", "send", "-connect", addr, "-interval", "1ms", "-duration", "300ms", "-progress", "0"}, &sendOut, &sendErr)
	})
	wg.Wait()
	if sendCode != exitOK || recvCode != exitOK {
		t.Fatalf("exit codes send %d recv %d\nsend: %s%s\nrecv: %s%s", sendCode, recvCode, sendOut.String(), sendErr.String(), recvOut.String(), recvErr.String())
	}
	var s, r streamprobe.Report
	if err := json.Unmarshal(sendOut.Bytes(), &s); err != nil {
		t.Fatalf("sender JSON: %v\n%s", err, sendOut.String())
	}
	if err := json.Unmarshal(recvOut.Bytes(), &r); err != nil {
		t.Fatalf("receiver JSON: %v\n%s", err, recvOut.String())
	}
	if !r.Verified || r.SHA256 != s.SHA256 || r.Records != s.Records {
		t.Fatalf("reports disagree:\n%s\n%s", sendOut.String(), recvOut.String())
	}
	if !strings.Contains(recvErr.String(), "records") {
		t.Fatalf("no progress lines on stderr: %q", recvErr.String())
	}
}

// TestStreamCommandCancel: SIGTERM (a cancelled context) still prints the
// receiver's report, marked incomplete.
func TestStreamCommandCancel(t *testing.T) {
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"stream", "-role", "send", "-listen", addr, "-progress", "0"}, &out, &errb)
	}()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	for i := 0; err != nil && i < 100; i++ { // the listener may not be up yet
		time.Sleep(20 * time.Millisecond)
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1024)
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s streamprobe.Report
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Role != streamprobe.RoleSend || !s.Complete {
		t.Fatalf("report after cancel: %v\n%s", err, out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{
		nil,
		{"nope"},
		{"stream", "-role", "x", "-listen", ":0"},
		{"stream", "-listen", ":0", "-connect", "127.0.0.1:1"},
		{"stream", "-bogus"},
		{"clean", "-prefix", "notours"},
		{"lab"},
		{"lab", "sideways"},
		{"lab", "down"},
		{"bench-idle", "extra"},
		{"bench-idle", "-duration", "soon"},
	} {
		var out, errb bytes.Buffer
		if code := run(ctx, args, &out, &errb); code == exitOK {
			t.Errorf("%q succeeded", args)
		}
	}
}
