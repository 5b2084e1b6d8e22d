//go:build linux && !android

package mobile

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
	"github.com/homeip/homeip/internal/streamprobe"
)

// openTUN creates a TUN interface inside node's namespace the way
// Android's VpnService.Builder.establish() does (IFF_TUN|IFF_NO_PI, no
// virtio-net header) and returns its descriptor, which the test owns.
func openTUN(t *testing.T, node *netlab.Node, name string) int {
	t.Helper()
	fd := -1
	err := node.Do(func() error {
		f, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(f)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(f), unix.TUNSETIFF, uintptr(unsafe.Pointer(ifr))); e != 0 {
			unix.Close(f)
			return fmt.Errorf("TUNSETIFF %s: %w", name, e)
		}
		fd = f
		return nil
	})
	if err != nil {
		t.Fatalf("creating the app's TUN: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// configureTUN does what the OS does with the app's Settings: addresses,
// MTU and routes on the TUN.
func configureTUN(t *testing.T, ctx context.Context, node *netlab.Node, name string, s *Settings) {
	t.Helper()
	run := func(args ...string) {
		t.Helper()
		if out, err := node.Run(ctx, "ip", args...); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("link", "set", name, "mtu", fmt.Sprint(s.MTU), "up")
	for _, a := range strings.Split(s.Addresses, ",") {
		args := []string{"addr", "add", a, "dev", name}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		run(args...)
	}
	for _, r := range strings.Split(s.Routes, ",") {
		run("route", "add", r, "dev", name)
	}
}

// startHA runs `ha serve` in the lab's ha namespace and returns a device
// token from its admin API.
func startHA(t *testing.T, ctx context.Context, lab *netlab.Lab) (token, adminSock, haBin string) {
	t.Helper()
	dir := t.TempDir()
	haBin = filepath.Join(dir, "ha")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", haBin, "github.com/homeip/homeip/cmd/ha").CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/ha: %v: %s", err, out)
	}
	adminSock = filepath.Join(dir, "admin.sock")
	ep := netip.AddrPortFrom(netlab.HAPublic4, 51830).String()
	// ha outlives ctx (the test's), so that a failing test can still
	// ask it for its goroutines; the cleanup stops it.
	p, err := lab.Start(context.WithoutCancel(ctx), lab.HA, haBin, "serve",
		"--data-dir", filepath.Join(dir, "data"),
		"--admin-socket", adminSock,
		"--listen", ep, "--public-addr", ep,
		"--interface", lab.Prefix[:min(len(lab.Prefix), 13)]+"ha",
		"--pool4", netlab.VIPPool4.String(), "--pool6", netlab.VIPPool6.String(),
		"--tunnel4", netlab.HATunnel4.String(), "--tunnel6", netlab.HATunnel6.String(),
		"--route", netlab.HomeLAN4.String(), "--route", netlab.HomeLAN6.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			// Its state and goroutines, in case it hangs.
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid())); err == nil {
				for _, l := range strings.Split(string(st), "\n") {
					if strings.HasPrefix(l, "State:") || strings.HasPrefix(l, "Threads:") {
						t.Logf("ha %s", l)
					}
				}
			}
			p.Signal(syscall.SIGQUIT)
			select {
			case <-p.Done():
			case <-time.After(5 * time.Second):
			}
		}
		p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("ha output:\n%s", p.Output())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := lab.HA.Run(ctx, haBin, "binding", "list", "--admin-socket", adminSock, "--json"); err == nil {
			break
		}
		select {
		case <-p.Done():
			t.Fatalf("ha exited at start:\n%s", p.Output())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ha admin API not answering:\n%s", p.Output())
		}
	}
	out, err := lab.HA.Run(ctx, haBin, "device", "add", "phone", "--admin-socket", adminSock, "--json")
	if err != nil {
		t.Fatalf("ha device add: %v", err)
	}
	var added struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil || added.Token == "" {
		t.Fatalf("ha device add printed %q", out)
	}
	return added.Token, adminSock, haBin
}

// TestLabAppMovesWifiToCellular drives the library the way an Android app
// does, in the lab: enrol, read the tunnel settings, create and configure
// the TUN itself, hand its descriptor to Start, announce networks through
// the API only (no netlink watcher), and move from Wi-Fi to cellular
// while TCP streams to and from cn run through the tunnel. The streams
// must come through with every byte, in order, without a reset.
func TestLabAppMovesWifiToCellular(t *testing.T) {
	labtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lab := labtest.New(t)
	token, adminSock, haBin := startHA(t, ctx, lab)

	stateDir := filepath.Join(t.TempDir(), "app-files", "homeip")
	if err := lab.MN.Do(func() error { return EnrollAs(token, stateDir, "lab-phone") }); err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	var settings *Settings
	if err := lab.MN.Do(func() (err error) { settings, err = TunnelSettings(stateDir, false); return err }); err != nil {
		t.Fatalf("TunnelSettings: %v", err)
	}
	t.Logf("settings %s", settings.JSON())
	if !netlab.VIPPool4.Contains(netip.MustParseAddr(settings.VIP4)) || !netlab.VIPPool6.Contains(netip.MustParseAddr(settings.VIP6)) ||
		!strings.Contains(settings.Routes, netlab.HomeLAN4.String()) {
		t.Fatalf("settings %+v", settings)
	}

	tunName := lab.Prefix[:min(len(lab.Prefix), 12)] + "app"
	tunFD := openTUN(t, lab.MN, tunName)
	configureTUN(t, ctx, lab.MN, tunName, settings)

	rec := newRecorder()
	var n *Node
	if err := lab.MN.Do(func() (err error) { n, err = Start(stateDir, tunFD, &Options{LogLevel: -4}, rec); return err }); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer func() {
		n.Stop()
		if t.Failed() {
			_, _, logs, _ := rec.snapshot()
			t.Logf("node log:\n%s", strings.Join(logs, "\n"))
		}
	}()
	if _, _, _, fds := rec.snapshot(); len(fds) == 0 {
		t.Error("Protect was not called for the tunnel's socket")
	}
	// The OS reports Wi-Fi as the default network; the library reads its
	// addresses itself.
	if err := lab.MN.Do(func() error { return n.NetworkChanged("wifi", netlab.WifiIface) }); err != nil {
		t.Fatalf("NetworkChanged: %v", err)
	}
	st := waitStateFor(t, n, 20*time.Second, "registration over Wi-Fi", func(s *Status) bool {
		return s.State == "registered" && s.Interface == netlab.WifiIface
	})
	if st.VIP4 != settings.VIP4 || st.VIP6 != settings.VIP6 || !strings.HasPrefix(st.CareOf, netlab.WifiPublic4.String()+":") {
		t.Errorf("registered status %+v", st)
	}

	// Streams through the tunnel: cn sends to the phone (the hard case: a
	// receiving device) and the phone sends to cn.
	ln, err := lab.CN.Listen(ctx, "tcp", netip.AddrPortFrom(netlab.CN4, 7070).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dial := func() (mn, cn net.Conn) {
		t.Helper()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}()
		mn, err := lab.MN.Dial(ctx, "tcp", netip.AddrPortFrom(netlab.CN4, 7070).String())
		if err != nil {
			t.Fatalf("dialling cn through the tunnel: %v", err)
		}
		cn, ok := <-accepted
		if !ok {
			t.Fatal("accept failed")
		}
		if got := mn.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got.String() != settings.VIP4 {
			t.Errorf("stream leaves from %v, not the VIP %s", got, settings.VIP4)
		}
		return mn, cn
	}
	downMN, downCN := dial()
	upMN, upCN := dial()
	defer func() {
		for _, c := range []net.Conn{downMN, downCN, upMN, upCN} {
			c.Close()
		}
	}()
	cfg := streamprobe.Config{Interval: 5 * time.Millisecond, Duration: 5 * time.Second, IdleTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	reports := make([]*streamprobe.Report, 4)
	errs := make([]error, 4)
	for i, f := range []func() (*streamprobe.Report, error){
		func() (*streamprobe.Report, error) { return streamprobe.Send(ctx, downCN, cfg) },
		func() (*streamprobe.Report, error) { return streamprobe.Receive(ctx, downMN, cfg) },
		func() (*streamprobe.Report, error) { return streamprobe.Send(ctx, upMN, cfg) },
		func() (*streamprobe.Report, error) { return streamprobe.Receive(ctx, upCN, cfg) },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], errs[i] = f()
		}()
	}

	// Walk out of Wi-Fi onto cellular: the radio change happens, then the
	// OS's callback tells the app, which tells the library, with the
	// addresses from LinkProperties.
	time.Sleep(1500 * time.Millisecond) // let the streams run on Wi-Fi first
	before := st.Handovers
	if err := lab.MoveToCell(ctx); err != nil {
		t.Fatal(err)
	}
	moved := time.Now()
	addrs := netip.PrefixFrom(netlab.MNCell4, netlab.CellLAN4.Bits()).String() + "," + netip.PrefixFrom(netlab.MNCell6, netlab.CellLAN6.Bits()).String()
	if err := n.NetworkChangedAddrs("cellular", netlab.CellIface, addrs); err != nil {
		t.Fatal(err)
	}
	st = waitStateFor(t, n, 20*time.Second, "handover to cellular", func(s *Status) bool {
		return s.State == "registered" && s.Interface == netlab.CellIface && s.Handovers > before
	})
	t.Logf("handover to cellular registered %v after the move (node: %.1f ms)", time.Since(moved).Round(time.Millisecond), st.LastHandoverMs)
	if st.VIP4 != settings.VIP4 || !strings.HasPrefix(st.CareOf, netlab.CarrierPublic4.String()+":") {
		t.Errorf("status after the move %+v", st)
	}

	wg.Wait()
	names := []string{"cn→phone send", "cn→phone receive", "phone→cn send", "phone→cn receive"}
	for i, r := range reports {
		if errs[i] != nil {
			t.Errorf("%s: %v", names[i], errs[i])
			continue
		}
		if r.Broken() {
			t.Errorf("%s broken:\n%s", names[i], r.JSON())
			continue
		}
		if r.Role == streamprobe.RoleRecv {
			t.Logf("%s: %d bytes verified, %d resets, longest gap %.1f ms", names[i], r.Bytes, r.Resets, r.MaxGapMS)
		}
	}

	// The home agent has the device's binding on the cellular path.
	out, err := lab.HA.Run(ctx, haBin, "binding", "list", "--admin-socket", adminSock, "--json")
	if err != nil || !strings.Contains(out, netlab.CarrierPublic4.String()) {
		t.Errorf("ha binding list: %v\n%s", err, out)
	}
	states, _, _, fds := rec.snapshot()
	if len(fds) < 2 {
		t.Errorf("Protect called for %d sockets; the move must reopen (and protect) the socket", len(fds))
	}
	if !contains(states, "moving") {
		t.Errorf("states reported %v", states)
	}

	n.Stop()
	if n.State() != "stopped" {
		t.Errorf("state after Stop %s", n.State())
	}
	if _, err := os.Stat(filepath.Join(stateDir, "state.json")); err != nil {
		t.Errorf("state: %v", err)
	}
}

// waitStateFor is waitState with a limit.
func waitStateFor(t *testing.T, n *Node, limit time.Duration, what string, cond func(*Status) bool) *Status {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st := n.StatusInfo()
		if cond(st) {
			return st
		}
		if st.State == "stopped" || time.Now().After(deadline) {
			t.Fatalf("waiting for %s: status %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
