package etcdstore

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/homeip/homeip/internal/leaktest"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/storetest"
)

func TestMain(m *testing.M) {
	leaktest.Main(m, 5*time.Second, nil, "github.com/homeip/homeip/", "go.etcd.io/etcd/client/v3")
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startEtcd runs a one-member etcd in the process, on loopback ports
// chosen free, with its data in the test's temporary directory; it is
// stopped (and the directory removed) when the test ends, failed or not.
// It returns the client URL.
func startEtcd(tb testing.TB) string {
	tb.Helper()
	u, _ := startEtcdServer(tb, nil)
	return u
}

// startEtcdServer is startEtcd with its configuration adjusted by tune (if
// not nil) before it starts; it also returns a function that stops the
// server early (the cleanup then does nothing).
func startEtcdServer(tb testing.TB, tune func(cfg *embed.Config)) (string, func()) {
	tb.Helper()
	var lastErr error
	for range 3 { // a port taken between freePort and the listen: try again
		cfg := embed.NewConfig()
		cfg.Name = "homeip-test"
		cfg.Dir = tb.TempDir()
		cu := url.URL{Scheme: "http", Host: "127.0.0.1:" + freePort(tb)}
		pu := url.URL{Scheme: "http", Host: "127.0.0.1:" + freePort(tb)}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		if tune != nil {
			tune(cfg)
			if cfg.ClientTLSInfo.CertFile != "" {
				cu.Scheme = "https"
				cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
			}
		}
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			lastErr = err
			continue
		}
		stop := sync.OnceFunc(e.Close) // Close panics when called twice
		tb.Cleanup(stop)
		select {
		case <-e.Server.ReadyNotify():
			return cu.String(), stop
		case err := <-e.Err():
			tb.Fatalf("embedded etcd: %v", err)
		case <-time.After(30 * time.Second):
			tb.Fatal("embedded etcd not ready after 30 s")
		}
	}
	tb.Fatalf("starting embedded etcd: %v", lastErr)
	return "", nil
}

var prefixes atomic.Int64

// openTest opens a store under a fresh prefix of the cluster at endpoint;
// its consistency is checked (by a second client) when the test ends.
func openTest(tb testing.TB, endpoint string) *Store {
	tb.Helper()
	prefix := fmt.Sprintf("/homeip-test/%d/", prefixes.Add(1))
	s, err := Open(context.Background(), Config{Endpoints: []string{endpoint}, Prefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Close()
		s2, err := Open(context.Background(), Config{Endpoints: []string{endpoint}, Prefix: prefix})
		if err != nil {
			tb.Errorf("reopen: %v", err)
			return
		}
		defer s2.Close()
		if err := s2.Check(context.Background()); err != nil {
			tb.Errorf("check: %v", err)
		}
	})
	return s
}

// TestSuite runs the behavioural suite of every store.Store against an
// embedded etcd, each subtest under its own prefix.
func TestSuite(t *testing.T) {
	ep := startEtcd(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, ep) })
}

// rawClient is a plain etcd client for looking at the keys directly.
func rawClient(tb testing.TB, endpoint string) *clientv3.Client {
	tb.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
