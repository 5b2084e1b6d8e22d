package homeagent

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/homeip/homeip/homeagent/adminapi"
	"github.com/homeip/homeip/homeagent/config"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/bboltstore"
	"github.com/homeip/homeip/tunnel/tunneltest"
)

var (
	benchStoreOnce sync.Once
	benchStoreDir  string
	benchStoreErr  error
)

const benchDevices = 100_000

// benchStore fills a store with benchDevices enrolled devices, each with an
// IPv4 and an IPv6 lease, once per test binary run (group commit: 1024
// concurrent writers).
func benchStore(b *testing.B) string {
	benchStoreOnce.Do(func() {
		benchStoreDir, benchStoreErr = os.MkdirTemp("", "homeip-bench-")
		if benchStoreErr != nil {
			return
		}
		st, err := bboltstore.Open(filepath.Join(benchStoreDir, "store.db"), bboltstore.Options{})
		if err != nil {
			benchStoreErr = err
			return
		}
		defer st.Close()
		ctx := context.Background()
		now := time.Now()
		work := make(chan int)
		errs := make(chan error, 1024)
		var wg sync.WaitGroup
		for w := 0; w < 1024; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					id := fmt.Sprintf("dev%06d", i)
					ik := sha256.Sum256([]byte("ik" + id))
					wk := sha256.Sum256([]byte("wg" + id))
					d := store.Device{ID: id, Name: fmt.Sprintf("device%d", i), IdentityKey: ik[:], WGKey: wk, Created: now, Enrolled: now}
					if err := st.CreateDevice(ctx, d); err != nil {
						errs <- err
						return
					}
					v4 := netip.AddrFrom4([4]byte{10, 64 + byte((i+2)>>16), byte((i + 2) >> 8), byte(i + 2)})
					v6 := netip.AddrFrom16([16]byte{0xfd, 0, 0, 1, 14: byte((i + 2) >> 8), 15: byte(i + 2)})
					v6b := v6.As16()
					v6b[13] = byte((i + 2) >> 16)
					for _, a := range []netip.Addr{v4, netip.AddrFrom16(v6b)} {
						if err := st.CommitLease(ctx, store.Lease{DeviceID: id, Addr: a, Created: now}); err != nil {
							errs <- err
							return
						}
					}
				}
			}()
		}
		for i := 0; i < benchDevices; i++ {
			select {
			case work <- i:
			case err := <-errs:
				benchStoreErr = err
			}
			if benchStoreErr != nil {
				break
			}
		}
		close(work)
		wg.Wait()
		select {
		case err := <-errs:
			benchStoreErr = err
		default:
		}
	})
	if benchStoreErr != nil {
		b.Fatal(benchStoreErr)
	}
	return benchStoreDir
}

// BenchmarkStartup100k measures a home agent's start with 100 000 enrolled
// devices (two leases each) in its bbolt store: opening the store, loading
// the pool and the device index, and serving until the admin socket
// answers (the readiness signal). Goal: under 5 s.
func BenchmarkStartup100k(b *testing.B) {
	dir := benchStore(b)
	id, err := LoadIdentity(dir)
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.Config{
		DataDir: dir, AdminSocket: filepath.Join(dir, "ha.sock"), DNSDisabled: true,
		Pool4: []netip.Prefix{netip.MustParsePrefix("10.64.0.0/14")},
		Pool6: []netip.Prefix{netip.MustParsePrefix("fd00:1::/64")},
	}.WithDefaults()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		st, err := bboltstore.Open(filepath.Join(dir, "store.db"), bboltstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		srv, err := New(Options{Config: cfg, Identity: id, Store: st, DataPlane: tunneltest.New(), ControlConn: pc})
		if err != nil {
			b.Fatal(err)
		}
		loaded := time.Since(start)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		c := adminapi.NewClient(cfg.AdminSocket)
		for {
			if _, err := c.Device("device99999"); err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		ready := time.Since(start)
		b.ReportMetric(float64(loaded.Milliseconds()), "load-ms")
		b.ReportMetric(float64(ready.Milliseconds()), "ready-ms")
		b.ReportMetric(float64(srv.idx.len()), "devices")
		cancel()
		<-done
		st.Close()
		pc.Close()
	}
}
