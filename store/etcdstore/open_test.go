package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/storetest"
)

var (
	bg = context.Background()
	t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
)

// keyCount counts the keys under a prefix.
func keyCount(t *testing.T, c *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := c.Get(bg, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

func TestOpen(t *testing.T) {
	ep := startEtcd(t)
	c := rawClient(t, ep)
	open := func(prefix string) (*Store, error) {
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		s, err := Open(ctx, Config{Endpoints: []string{ep}, Prefix: prefix})
		if err == nil {
			t.Cleanup(func() { s.Close() })
		}
		return s, err
	}

	s, err := open("/fresh")
	if err != nil {
		t.Fatal(err)
	}
	if s.Prefix() != "/fresh/" {
		t.Errorf("Prefix() = %q", s.Prefix())
	}
	if resp, err := c.Get(bg, "/fresh/meta/schema"); err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "1" {
		t.Fatalf("schema key after initialising: %v %v", resp, err)
	}
	if _, err := open("/fresh/"); err != nil {
		t.Fatalf("reopening: %v", err)
	}

	refused := []struct {
		name, prefix string
		keys         map[string]string
		want         error
	}{
		{"newer schema", "/newer/", map[string]string{"/newer/meta/schema": "2", "/newer/dev/x": "future"}, store.ErrSchema},
		{"unreadable schema", "/garbled/", map[string]string{"/garbled/meta/schema": "one"}, store.ErrCorrupt},
		{"foreign keys", "/foreign/", map[string]string{"/foreign/config": "something else"}, store.ErrCorrupt},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.keys {
				if _, err := c.Put(bg, k, v); err != nil {
					t.Fatal(err)
				}
			}
			before := keyCount(t, c, tc.prefix)
			_, err := open(tc.prefix)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			if after := keyCount(t, c, tc.prefix); after != before {
				t.Errorf("refused open changed the key count from %d to %d", before, after)
			}
		})
	}

	for name, cfg := range map[string]Config{
		"no endpoints": {Prefix: "/x/"},
		"no prefix":    {Endpoints: []string{ep}},
		"NUL prefix":   {Endpoints: []string{ep}, Prefix: "/a\x00b/"},
	} {
		if _, err := Open(bg, cfg); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: Open = %v, want ErrInvalid", name, err)
		}
	}
}

// TestOpenUnreachable: Open gives up within its context when no member
// answers.
func TestOpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(bg, time.Second)
	defer cancel()
	start := time.Now()
	_, err = Open(ctx, Config{Endpoints: []string{addr}, Prefix: "/x/"})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Open of a dead endpoint = %v after %v", err, time.Since(start))
	}
}

// TestPrefixes: stores under different prefixes of one cluster do not see
// each other.
func TestPrefixes(t *testing.T) {
	ep := startEtcd(t)
	a, b := openTest(t, ep), openTest(t, ep)
	addr := netip.MustParseAddr("10.1.2.3")
	for _, s := range []*Store{a, b} {
		if err := s.CreateDevice(bg, storetest.NewDevice("d")); err != nil {
			t.Fatal(err)
		}
		if err := s.CommitLease(bg, store.Lease{DeviceID: "d", Addr: addr, Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Store{a, b} {
		if c, err := s.Counts(bg); err != nil || c != (store.Counts{Devices: 1, Leases: 1}) {
			t.Errorf("Counts of %s = %+v, %v", s.Prefix(), c, err)
		}
	}
}

// TestRacesAcrossStores: three stores on one prefix (three home agents)
// race to redeem one token and to create devices of one name: exactly one
// wins each race, the others get the documented errors.
func TestRacesAcrossStores(t *testing.T) {
	_, stores := startAgents(t)
	if err := stores[0].CreateDevice(bg, storetest.NewDevice("a")); err != nil {
		t.Fatal(err)
	}
	_, tok, _ := store.NewToken("a", t0, time.Hour)
	if err := stores[1].AddToken(bg, tok); err != nil {
		t.Fatal(err)
	}
	var redeemed, invalid, created, exists atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		s := stores[i%3]
		wg.Add(2)
		go func() {
			defer wg.Done()
			seed := fmt.Sprint("k", i)
			_, err := s.RedeemToken(bg, tok.Hash, t0, store.Enrolment{IdentityKey: storetest.Key(seed), WGKey: storetest.WGKey(seed)})
			switch {
			case err == nil:
				redeemed.Add(1)
			case errors.Is(err, store.ErrTokenInvalid):
				invalid.Add(1)
			default:
				t.Errorf("redeem: %v", err)
			}
		}()
		go func() {
			defer wg.Done()
			err := s.CreateDevice(bg, store.Device{ID: fmt.Sprint("d", i), Name: "laptop", Created: t0})
			switch {
			case err == nil:
				created.Add(1)
			case errors.Is(err, store.ErrExists):
				exists.Add(1)
			default:
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	if redeemed.Load() != 1 || invalid.Load() != 29 {
		t.Errorf("%d redemptions, %d refused; want 1 and 29", redeemed.Load(), invalid.Load())
	}
	if created.Load() != 1 || exists.Load() != 29 {
		t.Errorf("%d devices named laptop created, %d refused; want 1 and 29", created.Load(), exists.Load())
	}
}

// TestSchemaFencesWriters: once the prefix's schema changes (a newer home
// agent migrated it), an older store's transactions are refused.
func TestSchemaFencesWriters(t *testing.T) {
	ep := startEtcd(t)
	s := openTest(t, ep)
	if err := s.CreateDevice(bg, storetest.NewDevice("a")); err != nil {
		t.Fatal(err)
	}
	c := rawClient(t, ep)
	if _, err := c.Put(bg, s.k.schema(), "2"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDevice(bg, storetest.NewDevice("b")); !errors.Is(err, store.ErrSchema) {
		t.Errorf("CreateDevice under a newer schema = %v, want ErrSchema", err)
	}
	if _, err := s.Device(bg, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused device: %v", err)
	}
	if _, err := c.Put(bg, s.k.schema(), "1"); err != nil { // for the Check at the end
		t.Fatal(err)
	}
}

// TestCheckFindsDamage writes inconsistent keys behind the store's back;
// Check must report each as store.ErrCorrupt.
func TestCheckFindsDamage(t *testing.T) {
	ep := startEtcd(t)
	c := rawClient(t, ep)
	damage := map[string]func(k keys) []clientv3.Op{
		"lease of a missing device": func(k keys) []clientv3.Op {
			return []clientv3.Op{clientv3.OpPut(k.lease(netip.MustParseAddr("10.9.9.9")), string(encodeHolder("ghost", t0)))}
		},
		"lease without its devaddr entry": func(k keys) []clientv3.Op {
			return []clientv3.Op{clientv3.OpDelete(k.devAddr("a", kindLease) + "10.0.0.1")}
		},
		"devaddr entry without its lease": func(k keys) []clientv3.Op {
			return []clientv3.Op{clientv3.OpPut(k.devAddr("a", kindLease)+"fd00::1", "")}
		},
		"second IPv4 lease": func(k keys) []clientv3.Op {
			a := netip.MustParseAddr("10.0.0.2")
			return []clientv3.Op{clientv3.OpPut(k.lease(a), string(encodeHolder("a", t0))), clientv3.OpPut(k.devAddr("a", kindLease)+a.String(), "")}
		},
		"non-canonical address key": func(k keys) []clientv3.Op {
			return []clientv3.Op{clientv3.OpPut(k.leases()+"010.0.0.1", string(encodeHolder("a", t0)))}
		},
		"name index pointing elsewhere": func(k keys) []clientv3.Op {
			return []clientv3.Op{clientv3.OpPut(k.name("other"), "a")}
		},
		"stray key": func(k keys) []clientv3.Op {
			return []clientv3.Op{clientv3.OpPut(k.p+"notes", "hello")}
		},
		"undecodable device": func(k keys) []clientv3.Op {
			return []clientv3.Op{clientv3.OpPut(k.dev("a"), `{"v":1,"id":"a","name":"name-a","extra":1}`)}
		},
		"quarantined and leased": func(k keys) []clientv3.Op {
			return []clientv3.Op{clientv3.OpPut(k.quar(netip.MustParseAddr("10.0.0.1")), string(encodeHolder("a", t0)))}
		},
	}
	for name, ops := range damage {
		t.Run(name, func(t *testing.T) {
			prefix := fmt.Sprintf("/damage/%d/", prefixes.Add(1))
			s, err := Open(bg, Config{Endpoints: []string{ep}, Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.CreateDevice(bg, storetest.NewDevice("a")); err != nil {
				t.Fatal(err)
			}
			if err := s.CommitLease(bg, store.Lease{DeviceID: "a", Addr: netip.MustParseAddr("10.0.0.1"), Created: t0}); err != nil {
				t.Fatal(err)
			}
			if err := s.Check(bg); err != nil {
				t.Fatalf("check before the damage: %v", err)
			}
			if _, err := c.Txn(bg).Then(ops(s.k)...).Commit(); err != nil {
				t.Fatal(err)
			}
			if err := s.Check(bg); !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("Check = %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestCloseEndsCallsInFlight: with the cluster gone, a call waits for its
// request timeout at most, and Close ends it at once with net.ErrClosed.
func TestCloseEndsCallsInFlight(t *testing.T) {
	ep, stop := startEtcdServer(t, nil)
	s, err := Open(bg, Config{Endpoints: []string{ep}, Prefix: "/close/", RequestTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	done := make(chan error, 1)
	go func() {
		_, err := s.Device(bg, "a")
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("call ended by Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call still running 5 s after Close")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Close took %v", el)
	}
}
