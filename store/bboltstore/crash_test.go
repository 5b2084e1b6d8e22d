package bboltstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homeip/homeip/homeagent/lease"
	"github.com/homeip/homeip/pool"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/storetest"
)

// The crash test re-executes this test binary; these variables switch it
// into the child's role (see TestMain).
const (
	envCrashChild = "HOMEIP_BBOLTSTORE_CRASH_CHILD" // store path
	envCrashRun   = "HOMEIP_BBOLTSTORE_CRASH_RUN"   // run number, for unique ids
)

func TestMain(m *testing.M) {
	if path := os.Getenv(envCrashChild); path != "" {
		if err := crashChild(path, os.Getenv(envCrashRun)); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	code := m.Run()
	if load1M.dir != "" {
		os.RemoveAll(load1M.dir)
	}
	os.Exit(code)
}

var crashPoolConfig = pool.Config{
	V4: []netip.Prefix{netip.MustParsePrefix("10.64.0.0/16")},
	V6: []netip.Prefix{netip.MustParsePrefix("fd64::/64")},
}

// crashChild allocates leases as fast as it can from 16 goroutines until
// it is killed. After each commit returns it prints "L id v4 v6"; before
// deleting a device "R id" and after the deletion committed "D id". Each line is one write(2) to a pipe, so lines
// are never interleaved.
func crashChild(path, run string) error {
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		return err
	}
	p, err := pool.New(crashPoolConfig)
	if err != nil {
		return err
	}
	if err := lease.LoadPool(ctx, s, p); err != nil {
		return err
	}
	var out sync.Mutex
	emit := func(line string) {
		out.Lock()
		defer out.Unlock()
		os.Stdout.WriteString(line)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("r%s-g%d-%d", run, g, i)
				now := time.Now()
				if err := s.CreateDevice(ctx, storetest.NewDevice(id)); err != nil {
					errs <- err
					return
				}
				ls, err := lease.AssignVIPs(ctx, s, p, id, now)
				if err != nil {
					errs <- err
					return
				}
				emit(fmt.Sprintf("L %s %v %v\n", id, ls[0].Addr, ls[1].Addr))
				if i%7 == 3 {
					emit(fmt.Sprintf("R %s\n", id)) // deleting: may or may not commit
					if err := lease.RemoveDevice(ctx, s, p, id, now); err != nil {
						errs <- err
						return
					}
					emit(fmt.Sprintf("D %s\n", id))
				}
			}
		}()
	}
	go func() { wg.Wait(); close(errs) }()
	return <-errs
}

// TestCrashKill9 kills a child that allocates leases at random moments,
// at least 20 times, and checks after each kill that the file opens,
// passes bbolt's and the store's consistency checks, and holds every lease
// the child reported as committed (and none of the devices it reported as
// deleted).
func TestCrashKill9(t *testing.T) {
	kills := 24
	if testing.Short() {
		kills = 20
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	leased := map[string][2]netip.Addr{} // every lease reported, across runs
	deleted := map[string]bool{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	deadline := time.Now().Add(40 * time.Second)
	total, runs := 0, 0
	for run := range kills {
		if time.Now().After(deadline) && run >= 20 {
			break
		}
		n := crashOnce(t, path, run, rng, leased, deleted)
		total += n
		verifyAfterCrash(t, path, run, leased, deleted)
		runs++
	}
	t.Logf("%d kills, %d leases reported committed, %d devices deleted", runs, total, len(deleted))
	if total == 0 {
		t.Fatal("the child never committed anything")
	}
}

// crashOnce runs one child and kills it at a random moment after its first
// commit; it returns how many leases the child reported.
func crashOnce(t *testing.T, path string, run int, rng *rand.Rand, leased map[string][2]netip.Addr, deleted map[string]bool) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashChild+"="+path, envCrashRun+"="+fmt.Sprint(run))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var got []string
	// Wait for the first commit (the child is then surely mid-flight),
	// then let it run a random while before SIGKILL.
	select {
	case l, ok := <-lines:
		if !ok {
			cmd.Wait()
			t.Fatalf("run %d: child exited before its first commit: %s", run, stderr.String())
		}
		got = append(got, l)
	case <-time.After(20 * time.Second):
		t.Fatalf("run %d: no commit within 20 s: %s", run, stderr.String())
	}
	timer := time.NewTimer(time.Duration(rng.IntN(300)) * time.Millisecond)
collect:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break collect
			}
			got = append(got, l)
		case <-timer.C:
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
			timer.C = nil
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("run %d: child exited on its own (%v): %s", run, err, stderr.String())
	}
	n := 0
	deleting := map[string]bool{}
	for _, l := range got {
		f := strings.Fields(l)
		switch {
		case len(f) == 4 && f[0] == "L":
			leased[f[1]] = [2]netip.Addr{netip.MustParseAddr(f[2]), netip.MustParseAddr(f[3])}
			n++
		case len(f) == 2 && f[0] == "D":
			deleted[f[1]] = true
		case len(f) == 2 && f[0] == "R":
			deleting[f[1]] = true
		default:
			// A line cut by the kill cannot happen (single writes
			// to a pipe), so anything else is a bug.
			t.Fatalf("run %d: unexpected child output %q", run, l)
		}
	}
	// A deletion cut by the kill either happened or not; find out, and
	// when it did, the addresses must be in quarantine.
	for id := range deleting {
		if deleted[id] {
			continue
		}
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("run %d: reopening after kill -9: %v", run, err)
		}
		_, err = s.Device(context.Background(), id)
		if errors.Is(err, store.ErrNotFound) {
			deleted[id] = true
			quar := map[netip.Addr]string{}
			s.Walk(context.Background(), store.Visitor{Quarantined: func(q store.Quarantined) error {
				quar[q.Addr] = q.DeviceID
				return nil
			}})
			for _, a := range leased[id] {
				if quar[a] != id {
					t.Errorf("run %d: %s was deleted but %v is not quarantined for it", run, id, a)
				}
			}
		} else if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		s.Close()
	}
	return n
}

func verifyAfterCrash(t *testing.T, path string, run int, leased map[string][2]netip.Addr, deleted map[string]bool) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("run %d: reopening after kill -9: %v", run, err)
	}
	defer s.Close()
	if err := s.Check(ctx); err != nil {
		t.Fatalf("run %d: %v", run, err)
	}
	holders := map[netip.Addr]string{}
	err = s.Walk(ctx, store.Visitor{Lease: func(l store.Lease) error {
		if h, dup := holders[l.Addr]; dup {
			return fmt.Errorf("%v held by %s and %s", l.Addr, h, l.DeviceID)
		}
		holders[l.Addr] = l.DeviceID
		return nil
	}})
	if err != nil {
		t.Fatalf("run %d: %v", run, err)
	}
	for id, addrs := range leased {
		if deleted[id] {
			if _, err := s.Device(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("run %d: device %s reported deleted is still there (%v)", run, id, err)
			}
			continue
		}
		for _, a := range addrs {
			if holders[a] != id {
				t.Fatalf("run %d: lease %v of %s was reported committed but the store says %q", run, a, id, holders[a])
			}
		}
	}
	// Stickiness across the crash: a fresh pool loaded from the file
	// proposes every surviving device its own addresses.
	p, err := pool.New(crashPoolConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := lease.LoadPool(ctx, s, p); err != nil {
		t.Fatalf("run %d: loading pool: %v", run, err)
	}
	checked := 0
	for id, addrs := range leased {
		if deleted[id] || checked >= 200 {
			continue
		}
		checked++
		for i, fam := range []pool.Family{pool.IPv4, pool.IPv6} {
			if a, err := p.Propose(id, fam); err != nil || a != addrs[i] {
				t.Fatalf("run %d: after reload %s is proposed %v (%v), want %v", run, id, a, err, addrs[i])
			}
		}
	}
}
