package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
)

// TestLabWithRealHomeAgent runs the real ha and mnode binaries in the
// full lab: enrol, up, traffic to cn over both VIP families, then a move
// from Wi-Fi to cellular while the node only receives a UDP stream from
// cn, so that only the binding update can re-point the home agent. It logs
// the time from `mnode up` to the first packet through the tunnel and the
// downlink gap of the move.
func TestLabWithRealHomeAgent(t *testing.T) {
	lab := labtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	mnode := buildMnode(t)
	ha := filepath.Join(dir, "ha")
	if out, err := exec.Command("go", "build", "-o", ha, "../ha").CombinedOutput(); err != nil {
		t.Fatalf("building ha: %v: %s", err, out)
	}

	sock := filepath.Join(dir, "ha.sock")
	// The home agent listens on its published address. Listening on [::]
	// (ha's default), its WireGuard replies to a re-pointed endpoint leave
	// from the address of the outgoing link (198.18.2.1) instead of the
	// one the node talks to (198.18.0.1), and the carrier NAT drops them:
	// the downlink of a receive-only node never comes back after a move.
	// Its interface name is unique because UAPI sockets are not per
	// namespace.
	haProc, err := lab.Start(ctx, lab.HA, ha, "serve", "--data-dir", filepath.Join(dir, "ha-data"), "--admin-socket", sock,
		"--interface", lab.Prefix+"-h", "--listen", netip.AddrPortFrom(netlab.HAPublic4, 51830).String(),
		"--pool4", netlab.VIPPool4.String(), "--pool6", netlab.VIPPool6.String(),
		"--tunnel4", netlab.HATunnel4.String(), "--tunnel6", netlab.HATunnel6.String(),
		"--public-addr", netlab.HAPublic4.String(),
		"--route", netlab.HomeLAN4.String(), "--route", netlab.HomeLAN6.String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// SIGTERM first: a killed ha leaves its UAPI socket behind.
		haProc.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("ha output:\n%s", haProc.Output())
		}
	}()
	var token string
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := lab.HA.Run(ctx, ha, "device", "add", "phone", "--admin-socket", sock)
		if err == nil {
			token = strings.TrimSpace(out)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ha not ready: %v\n%s", err, haProc.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stateDir := filepath.Join(dir, "mn-state")
	if out, err := lab.MN.Run(ctx, mnode, "enroll", token, "--state-dir", stateDir); err != nil {
		t.Fatalf("enroll: %v", err)
	} else {
		t.Log(strings.TrimSpace(out))
	}

	// cn echoes UDP from VIPs and, later, streams to the node.
	var cn4, cn6 net.PacketConn
	if err := lab.CN.Do(func() (err error) {
		if cn4, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netlab.CN4, 7777))); err != nil {
			return err
		}
		cn6, err = net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netlab.CN6, 7777)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer func() {
		cn4.Close()
		cn6.Close()
		wg.Wait()
	}()
	for _, pc := range []net.PacketConn{cn4, cn6} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				// Only what came through the tunnel (from a VIP) is
				// echoed; cn is reachable outside it too.
				src := from.(*net.UDPAddr).AddrPort().Addr().Unmap()
				if netlab.VIPPool4.Contains(src) || netlab.VIPPool6.Contains(src) {
					pc.WriteTo(buf[:n], from)
				}
			}
		}()
	}
	var mn4, mn6 net.PacketConn
	if err := lab.MN.Do(func() (err error) {
		if mn4, err = net.ListenUDP("udp4", nil); err != nil {
			return err
		}
		mn6, err = net.ListenUDP("udp6", nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer mn4.Close()
	defer mn6.Close()

	// The UAPI socket (/var/run/wireguard/IFACE.sock) is not per
	// namespace: the node's TUN needs a name no other test uses.
	tun := lab.Prefix + "-t"
	start := time.Now()
	up, err := lab.Start(ctx, lab.MN, mnode, "up", "--state-dir", stateDir, "--interface", tun,
		"--keepalive-min", "500ms", "--keepalive-max", "1s")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		up.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("mnode output:\n%s", up.Output())
		}
	}()
	firstPacket := func(pc net.PacketConn, to netip.Addr) time.Duration {
		t.Helper()
		buf := make([]byte, 64)
		dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(to, 7777))
		for time.Since(start) < 30*time.Second {
			pc.WriteTo([]byte("hello"), dst) // fails until the routes exist
			pc.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
			if n, _, err := pc.ReadFrom(buf); err == nil && string(buf[:n]) == "hello" {
				return time.Since(start)
			}
		}
		t.Fatalf("no echo from %v through the tunnel:\n%s", to, up.Output())
		return 0
	}
	d4 := firstPacket(mn4, netlab.CN4)
	d6 := firstPacket(mn6, netlab.CN6)
	t.Logf("mnode up -> first IPv4 echo from cn through the tunnel: %v (IPv6: %v)", d4.Round(time.Millisecond), d6.Round(time.Millisecond))

	status := func() client.Status {
		out, err := lab.MN.Run(ctx, mnode, "status", "--state-dir", stateDir, "--json")
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		var st client.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status: %v: %s", err, out)
		}
		return st
	}
	// The tunnel carries traffic as soon as the home agent has set the
	// peer, a moment before the node has taken the acknowledgement in:
	// wait for the status to say registered.
	st := status()
	for deadline := time.Now().Add(10 * time.Second); st.State != "registered" && time.Now().Before(deadline); st = status() {
		time.Sleep(20 * time.Millisecond)
	}
	if st.Interface != "wlan0" || !st.VIP4.IsValid() || !st.VIP6.IsValid() {
		t.Fatalf("status before the move: %+v", st)
	}

	// Receive-only: cn streams to the node's VIP every 2 ms; the node
	// never answers, so WireGuard's roaming cannot help the home agent.
	if _, err := mn4.(*net.UDPConn).WriteTo([]byte("hello"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(netlab.CN4, 7777))); err != nil {
		t.Fatal(err)
	}
	mnPort := mn4.LocalAddr().(*net.UDPAddr).Port
	target := net.UDPAddrFromAddrPort(netip.AddrPortFrom(st.VIP4, uint16(mnPort)))
	// stream runs the downlink stream around event and returns how many
	// packets arrived before and after it and the longest gap after it.
	stream := func(name string, event func() error, settle time.Duration) (before, after int, gap time.Duration) {
		t.Helper()
		stop := make(chan struct{})
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			var seq uint64
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				seq++
				var b [8]byte
				binary.BigEndian.PutUint64(b[:], seq)
				cn4.WriteTo(b[:], target)
			}
		}()
		var arrivals []time.Time
		var stopping atomic.Bool
		recvDone := make(chan struct{})
		go func() {
			defer close(recvDone)
			buf := make([]byte, 64)
			for {
				wait := 4 * time.Second // longer than any gap measured
				if stopping.Load() {
					wait = 100 * time.Millisecond // the last packets are in
				}
				mn4.SetReadDeadline(time.Now().Add(wait))
				n, _, err := mn4.ReadFrom(buf)
				if err != nil {
					return
				}
				if n == 8 {
					arrivals = append(arrivals, time.Now())
				}
			}
		}()
		time.Sleep(500 * time.Millisecond)
		at := time.Now()
		if err := event(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(settle)
		close(stop)
		<-sent
		stopping.Store(true)
		mn4.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		<-recvDone
		for i := 1; i < len(arrivals); i++ {
			if arrivals[i].Before(at) {
				before++
				continue
			}
			after++
			if g := arrivals[i].Sub(arrivals[i-1]); g > gap {
				gap = g
			}
		}
		// The last second of settle at one packet per 2 ms: ~500 expected.
		if before == 0 || after < 400 {
			for _, n := range []*netlab.Node{lab.HA, lab.MN} {
				out, err := n.Run(ctx, "wg", "show")
				t.Logf("wg show in %s: %v\n%s", n.Role, err, out)
			}
			t.Fatalf("%s: the stream did not survive: %d packets before, %d after\n%s", name, before, after, up.Output())
		}
		return before, after, gap
	}

	before, after, gap := stream("move to cellular", func() error { return lab.MoveToCell(ctx) }, 1500*time.Millisecond)
	st = status()
	t.Logf("move Wi-Fi -> cellular: downlink gap %v (receive-only node); node's handover %.1f ms; %d packets before, %d after",
		gap.Round(time.Millisecond), st.LastHandoverMs, before, after)
	if st.Handovers < 1 || st.Interface != "wwan0" || st.State != "registered" {
		t.Errorf("status after the move: %+v", st)
	}

	// Both links: back to the preferred Wi-Fi, cellular as standby.
	_, _, gap = stream("both links", func() error { return lab.BothLinks(ctx) }, 1500*time.Millisecond)
	st = status()
	t.Logf("cellular -> Wi-Fi with cellular standby: downlink gap %v", gap.Round(time.Millisecond))
	if st.Interface != "wlan0" || st.Standby != "wwan0" || st.State != "registered" {
		t.Errorf("status with both links: %+v", st)
	}

	// Wi-Fi silently dies (the router drops everything, the link stays
	// up): heartbeats go unanswered and the node fails over to cellular.
	_, _, gap = stream("Wi-Fi blackholed", func() error { return lab.BlackholeWifi(ctx, true) }, 6*time.Second)
	st = status()
	t.Logf("silent Wi-Fi failure -> cellular: downlink gap %v (keepalive %.1f s, %s)", gap.Round(time.Millisecond), st.KeepaliveS, st.LastHandoverReason)
	if st.Interface != "wwan0" || st.State != "registered" {
		t.Errorf("status after the Wi-Fi blackhole: %+v", st)
	}

	if _, err := lab.MN.Run(ctx, mnode, "down", "--state-dir", stateDir); err != nil {
		t.Errorf("down: %v", err)
	}
	if err := up.Wait(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("mnode up exited: %v", err)
	}
}
