package homeagent

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/store"
)

// countingStore counts the write transactions that redeem tokens.
type countingStore struct {
	store.Store
	redeems atomic.Int32
}

func (c *countingStore) RedeemToken(ctx context.Context, hash [32]byte, now time.Time, e store.Enrolment) (store.Device, error) {
	c.redeems.Add(1)
	return c.Store.RedeemToken(ctx, hash, now, e)
}

// lineCounter is a slog handler that keeps the messages it got, to count
// them.
type lineCounter struct {
	mu         sync.Mutex
	lines      []string
	suppressed int64 // the last suppressed_before attribute seen
}

func (l *lineCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *lineCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed_before" {
			l.suppressed = a.Value.Int64()
		}
		return true
	})
	l.mu.Unlock()
	return nil
}

func (l *lineCounter) suppressedAttr() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.suppressed
}
func (l *lineCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lineCounter) WithGroup(string) slog.Handler      { return l }

func (l *lineCounter) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.lines {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

func badEnrol(t *testing.T, h *testHA) (*testConn, *binding.EnrollAck) {
	t.Helper()
	dev := newDevice(t)
	c := h.dial(dev)
	var secret [binding.SecretSize]byte
	secret[0] = 1
	c.send(&binding.Enroll{Token: secret, WGPublicKey: dev.wg.PublicKey()})
	return c, recvAs[*binding.EnrollAck](c)
}

// TestBadTokenCostsNoWrite: an unknown token is refused from a read, and
// the connection is closed after the refusal.
func TestBadTokenCostsNoWrite(t *testing.T) {
	var cs *countingStore
	h := startHAWith(t, t.TempDir(), labConfig(""), nil, haSeams{st: func(st store.Store) store.Store {
		cs = &countingStore{Store: st}
		return cs
	}})
	c, a := badEnrol(t, h)
	if a.Status != binding.StatusBadToken {
		t.Fatalf("ack %+v", a)
	}
	if n := cs.redeems.Load(); n != 0 {
		t.Fatalf("a bad token cost %d write transaction(s)", n)
	}
	c.expectClosed()
}

// TestBadTokensLimitedPerSource: failed enrolments from one source are
// limited, and so are the log lines about them.
func TestBadTokensLimitedPerSource(t *testing.T) {
	lc := &lineCounter{}
	h := startHAWith(t, t.TempDir(), labConfig(""), nil, haSeams{log: slog.New(lc)})
	const attempts = 30
	limited := 0
	for range attempts {
		_, a := badEnrol(t, h)
		switch a.Status {
		case binding.StatusBadToken:
		case binding.StatusRateLimited:
			limited++
		default:
			t.Fatalf("ack %+v", a)
		}
	}
	if limited < attempts/2 {
		t.Fatalf("%d of %d bad enrolments from one source rate limited", limited, attempts)
	}
	if n := lc.count("enrolment refused"); n > 12 {
		t.Fatalf("%d log lines for %d bad enrolments", n, attempts)
	}
	// A good token from the same source still works once the source's
	// budget refilled.
	h.clock.Advance(time.Minute)
	dev := newDevice(t)
	if _, a := h.enrol("late", dev); a.Status != binding.StatusAccepted {
		t.Fatalf("enrolment after the refill: %+v", a)
	}
}
