package netlab_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/leaktest"
	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
)

func ping(t *testing.T, n *netlab.Node, dst netip.Addr, opt netlab.PingOptions) (netlab.PingResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return n.Ping(ctx, dst, opt)
}

// mustPass pings with size-byte packets and wants every reply.
func mustPass(t *testing.T, step string, n *netlab.Node, dst netip.Addr, size int) {
	t.Helper()
	res, err := ping(t, n, dst, netlab.PingOptions{Size: size, Count: 3, Timeout: 2 * time.Second})
	if err != nil || res.Received != 3 {
		t.Fatalf("%s: %s → %v, %d bytes: %+v, %v; want all 3 replies", step, n.Role, dst, size, res, err)
	}
}

// mustBeTooBigLocally wants the node's own stack to refuse a DF packet.
func mustBeTooBigLocally(t *testing.T, step string, n *netlab.Node, dst netip.Addr, size int) {
	t.Helper()
	res, err := ping(t, n, dst, netlab.PingOptions{Size: size})
	if !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("%s: %s → %v, %d bytes: %+v, %v; want EMSGSIZE", step, n.Role, dst, size, res, err)
	}
}

// mustBeTooBigOnPath wants the packet dropped on the way and an ICMP
// error naming mtu (loud) or nothing at all (silent).
func mustBeTooBigOnPath(t *testing.T, step string, n *netlab.Node, dst netip.Addr, size, mtu int, silent bool) {
	t.Helper()
	res, err := ping(t, n, dst, netlab.PingOptions{Size: size, Count: 3, Timeout: 700 * time.Millisecond})
	if err != nil {
		t.Fatalf("%s: %s → %v, %d bytes: %v", step, n.Role, dst, size, err)
	}
	if res.Received != 0 {
		t.Fatalf("%s: %s → %v, %d bytes got %d replies over a %d-byte path", step, n.Role, dst, size, res.Received, mtu)
	}
	switch {
	case silent && res.TooBig != 0:
		t.Fatalf("%s: silent path sent %d too-big errors (mtu %d)", step, res.TooBig, res.TooBigMTU)
	case !silent && (res.TooBig == 0 || res.TooBigMTU != mtu):
		t.Fatalf("%s: %+v, want too-big errors naming mtu %d", step, res, mtu)
	}
}

func TestLinkMTU(t *testing.T) {
	t.Parallel()
	l := labtest.NewWith(t, netlab.Options{Network: netlab.Network{
		Wifi: netlab.LinkConfig{MTU: 1492},
		Cell: netlab.LinkConfig{MTU: 1280},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ha := range []netip.Addr{netlab.HAPublic4, netlab.HAPublic6} {
		mustPass(t, "wifi", l.MN, ha, 1492)
		mustBeTooBigLocally(t, "wifi", l.MN, ha, 1493)
	}
	// Downstream, the Wi-Fi router says so.
	mustBeTooBigOnPath(t, "wifi downstream", l.HA, netlab.MNWifiA6, 1500, 1492, false)
	if err := l.MoveToCell(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ha := range []netip.Addr{netlab.HAPublic4, netlab.HAPublic6} {
		mustPass(t, "cell", l.MN, ha, 1280)
		mustBeTooBigLocally(t, "cell", l.MN, ha, 1281)
	}
	mustBeTooBigOnPath(t, "cell downstream", l.HA, netlab.MNCell6, 1400, 1280, false)
	mustPass(t, "cell downstream", l.HA, netlab.MNCell6, 1280)
}

// TestPathMTU: Wi-Fi has a 1280-byte path that reports itself, cellular
// one that drops oversize packets without a word, in both directions.
func TestPathMTU(t *testing.T) {
	t.Parallel()
	l := labtest.NewWith(t, netlab.Options{Network: netlab.Network{
		Wifi: netlab.LinkConfig{PathMTU: 1280},
		Cell: netlab.LinkConfig{PathMTU: 1280, SilentPath: true},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	check := func(step string, silent bool, mn4, mn6 netip.Addr) {
		for _, ha := range []netip.Addr{netlab.HAPublic4, netlab.HAPublic6} {
			mustPass(t, step, l.MN, ha, 1280)
			mustPass(t, step, l.MN, ha, 1280) // a learned PMTU must not matter
			mustBeTooBigOnPath(t, step+" upstream", l.MN, ha, 1400, 1280, silent)
		}
		mustPass(t, step+" downstream", l.HA, mn6, 1280)
		mustBeTooBigOnPath(t, step+" downstream", l.HA, mn6, 1400, 1280, silent)
		// The link itself carries 1500 bytes.
		mustPass(t, step+" link", l.MN, mn4, 1500)
	}
	check("wifi (loud)", false, netlab.WifiRouterA4, netlab.MNWifiA6)
	if err := l.MoveToCell(ctx); err != nil {
		t.Fatal(err)
	}
	check("cell (silent)", true, netlab.CellRouter4, netlab.MNCell6)
	// IPv4 without DF is fragmented by the router, not dropped: a big
	// UDP datagram from mn arrives whole.
	ha, err := l.HA.ListenPacket(ctx, "udp4", netip.AddrPortFrom(netlab.HAPublic4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	mn, err := l.MN.ListenPacket(ctx, "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer mn.Close()
	if err := setNoDF(mn); err != nil {
		t.Fatal(err)
	}
	if _, err := mn.WriteTo(make([]byte, 1400), ha.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = ha.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2000)
	if n, _, err := ha.ReadFrom(buf); err != nil || n != 1400 {
		t.Fatalf("1400-byte datagram without DF over the silent path: %d bytes, %v", n, err)
	}
}

// warmUp resolves the neighbours along the path from n to dst (whose
// solicitations cross the delayed link too): a burst sent while the
// first hop is still being resolved waits in the kernel's neighbour queue
// and can be reordered there when resolution completes, which is not
// what the relay tests look at.
func warmUp(t *testing.T, n *netlab.Node, dst netip.Addr) {
	t.Helper()
	if res, err := ping(t, n, dst, netlab.PingOptions{Count: 2, Interval: 50 * time.Millisecond}); err != nil || res.Received == 0 {
		t.Fatalf("warming up %s → %v: %+v, %v", n.Role, dst, res, err)
	}
}

func setNoDF(c net.PacketConn) error {
	sc, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, syscall.IP_PMTUDISC_DONT)
	}); err != nil {
		return err
	}
	return serr
}

// TestNATUDPTimeout: an idle mapping is forgotten after the timeout, so
// ha can no longer reach the node through it.
func TestNATUDPTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	l := labtest.NewWith(t, netlab.Options{Network: netlab.Network{
		Wifi: netlab.LinkConfig{NATUDPTimeout: timeout},
		Cell: netlab.LinkConfig{NATUDPTimeout: 7 * time.Second},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range []struct {
		n    *netlab.Node
		want string
	}{{l.Wifi, "2"}, {l.Cell, "7"}, {l.Carrier, "7"}} {
		for _, k := range []string{"nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream"} {
			var got string
			if err := c.n.Do(func() error {
				b, err := os.ReadFile("/proc/sys/net/netfilter/" + k)
				got = strings.TrimSpace(string(b))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("%s: %s = %s, want %s", c.n.Role, k, got, c.want)
			}
		}
	}
	ha, err := l.HA.ListenPacket(ctx, "udp4", netip.AddrPortFrom(netlab.HAPublic4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	mn, err := l.MN.ListenPacket(ctx, "udp4", ":40000")
	if err != nil {
		t.Fatal(err)
	}
	defer mn.Close()
	mapped := udpSource(t, mn, ha)
	// ha → node through the mapping: delivered while fresh.
	reaches := func() bool {
		if _, err := ha.WriteTo([]byte("down"), net.UDPAddrFromAddrPort(mapped)); err != nil {
			t.Fatal(err)
		}
		_ = mn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 64)
		_, _, err := mn.ReadFrom(buf)
		return err == nil
	}
	time.Sleep(timeout / 2)
	if !reaches() {
		t.Fatalf("mapping %v gone after %v idle (timeout %v)", mapped, timeout/2, timeout)
	}
	time.Sleep(timeout + 500*time.Millisecond)
	if reaches() {
		t.Fatalf("mapping %v still delivers after %v idle (timeout %v)", mapped, timeout+500*time.Millisecond, timeout)
	}
	// The node's next packet makes a new mapping.
	if again := udpSource(t, mn, ha); again.Addr() != mapped.Addr() {
		t.Fatalf("new mapping from %v, want %v", again.Addr(), mapped.Addr())
	}
}

// TestNATBehavior: the default NAT maps one inside port to a different
// public port per destination; the port-preserving one keeps the port.
func TestNATBehavior(t *testing.T) {
	t.Parallel()
	l := labtest.NewWith(t, netlab.Options{Network: netlab.Network{
		Cell: netlab.LinkConfig{NAT: netlab.NATPortPreserving},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Two destinations on ha.
	var has []net.PacketConn
	for _, a := range []netip.Addr{netlab.HAPublic4, netlab.HAWifi4, netlab.HACell4} {
		c, err := l.HA.ListenPacket(ctx, "udp4", netip.AddrPortFrom(a, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		has = append(has, c)
	}
	mn, err := l.MN.ListenPacket(ctx, "udp4", ":40001")
	if err != nil {
		t.Fatal(err)
	}
	defer mn.Close()
	ports := map[uint16]bool{}
	for _, h := range has {
		ports[udpSource(t, mn, h).Port()] = true
	}
	if len(ports) == 1 {
		t.Fatalf("symmetric NAT: three destinations saw one public port %v", ports)
	}
	if err := l.MoveToCell(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range has {
		if p := udpSource(t, mn, h).Port(); p != 40001 {
			t.Fatalf("port-preserving NAT: destination %v saw port %d, want 40001", h.LocalAddr(), p)
		}
	}
}

// TestLossDelayJitter: loss on Wi-Fi, delay and jitter on cellular.
func TestLossDelayJitter(t *testing.T) {
	t.Parallel()
	const (
		delay  = 20 * time.Millisecond
		jitter = 5 * time.Millisecond
		loss   = 0.1
	)
	l := labtest.NewWith(t, netlab.Options{Network: netlab.Network{
		Wifi: netlab.LinkConfig{Loss: loss},
		Cell: netlab.LinkConfig{Delay: delay, Jitter: jitter},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// 10 % each way loses 19 % of round trips; 400 pings give a standard
	// deviation of 2 %.
	res, err := ping(t, l.MN, netlab.HAPublic4, netlab.PingOptions{Count: 400, Interval: time.Millisecond, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lost := 1 - float64(res.Received)/float64(res.Sent)
	t.Logf("loss %.0f%% each way: %d of %d round trips lost (%.1f%%, expected %.1f%%)", 100*loss, res.Sent-res.Received, res.Sent, 100*lost, 100*(1-(1-loss)*(1-loss)))
	if lost < 0.11 || lost > 0.28 {
		t.Fatalf("round-trip loss %.3f, want about 0.19", lost)
	}

	if err := l.MoveToCell(ctx); err != nil {
		t.Fatal(err)
	}
	// Pings 1 ms apart with ±5 ms jitter would overtake each other
	// without the relay's ordering.
	for _, ha := range []netip.Addr{netlab.HAPublic4, netlab.HAPublic6} {
		warmUp(t, l.MN, ha)
		res, err := ping(t, l.MN, ha, netlab.PingOptions{Count: 300, Interval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if res.Received != res.Sent {
			t.Fatalf("%v: %d of %d replies without loss configured", ha, res.Received, res.Sent)
		}
		if res.Reordered != 0 {
			t.Fatalf("%v: %d replies reordered", ha, res.Reordered)
		}
		lo, hi, sum := time.Hour, time.Duration(0), time.Duration(0)
		for _, r := range res.RTTs {
			lo, hi, sum = min(lo, r), max(hi, r), sum+r
		}
		mean := sum / time.Duration(len(res.RTTs))
		t.Logf("%v: rtt min %v mean %v max %v (configured %v ± %v)", ha, lo, mean, hi, 2*delay, 2*jitter)
		// The relay never releases early; it is late only by scheduling,
		// which on a loaded machine can stretch single packets, so the
		// upper bound is held by the mean, not the maximum.
		if lo < 2*(delay-jitter) {
			t.Fatalf("%v: rtt min %v, below the configured %v", ha, lo, 2*(delay-jitter))
		}
		if mean > 2*(delay+jitter)+15*time.Millisecond {
			t.Fatalf("%v: rtt mean %v, want at most %v", ha, mean, 2*(delay+jitter)+15*time.Millisecond)
		}
		if hi-lo < jitter {
			t.Fatalf("%v: rtt spread %v, want jitter to show", ha, hi-lo)
		}
	}
	// Sparse pings see the whole band.
	res, err = ping(t, l.MN, netlab.HAPublic4, netlab.PingOptions{Count: 40, Interval: 25 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := time.Hour, time.Duration(0)
	for _, r := range res.RTTs {
		lo, hi = min(lo, r), max(hi, r)
	}
	if hi-lo < 2*jitter {
		t.Fatalf("sparse pings: rtt in [%v, %v], want a spread of ≥ %v", lo, hi, 2*jitter)
	}
}

// TestDelayRelayKeepsOrder sends a dense burst of numbered datagrams
// each way through a jittered link and wants them in order.
func TestDelayRelayKeepsOrder(t *testing.T) {
	t.Parallel()
	l := labtest.NewWith(t, netlab.Options{Network: netlab.Network{
		Wifi: netlab.LinkConfig{Delay: 10 * time.Millisecond, Jitter: 10 * time.Millisecond},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 3000
	burst := func(dir string, from, to *netlab.Node, toAddr netip.Addr) {
		warmUp(t, from, toAddr)
		rx, err := to.ListenPacket(ctx, "udp6", netip.AddrPortFrom(toAddr, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		defer rx.Close()
		tx, err := from.ListenPacket(ctx, "udp6", ":0")
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Close()
		_ = rx.(*net.UDPConn).SetReadBuffer(4 << 20)
		got := make(chan []int, 1)
		go func() {
			var seqs []int
			buf := make([]byte, 64)
			for {
				_ = rx.SetReadDeadline(time.Now().Add(time.Second))
				k, _, err := rx.ReadFrom(buf)
				if err != nil {
					got <- seqs
					return
				}
				seqs = append(seqs, int(buf[0])<<16|int(buf[1])<<8|int(buf[2]))
				_ = k
			}
		}()
		msg := make([]byte, 32)
		for i := range n {
			msg[0], msg[1], msg[2] = byte(i>>16), byte(i>>8), byte(i)
			if _, err := tx.WriteTo(msg, rx.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			if i%100 == 99 {
				time.Sleep(time.Millisecond) // stay within socket buffers
			}
		}
		seqs := <-got
		if len(seqs) < n*9/10 {
			t.Fatalf("%s: %d of %d datagrams arrived", dir, len(seqs), n)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("%s: datagram %d arrived after %d", dir, seqs[i], seqs[i-1])
			}
		}
		t.Logf("%s: %d of %d datagrams, in order", dir, len(seqs), n)
	}
	burst("upstream", l.MN, l.HA, netlab.HAPublic6)
	burst("downstream", l.HA, l.MN, netlab.MNWifiA6)
}

// TestUnderlayFamilyMoves: IPv4 behind NAT on Wi-Fi ↔ IPv6 only on
// cellular.
func TestUnderlayFamilyMoves(t *testing.T) {
	t.Parallel()
	l := labtest.NewWith(t, netlab.Options{Network: netlab.Network{
		Wifi: netlab.LinkConfig{Family: netlab.IPv4Only},
		Cell: netlab.LinkConfig{Family: netlab.IPv6Only},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	only := func(step string, want4 bool, src netip.Addr) {
		t.Helper()
		ha, other := netlab.HAPublic4, netlab.HAPublic6
		if !want4 {
			ha, other = other, ha
		}
		got, err := observe(t, l, ha)
		if err != nil {
			t.Fatalf("%s: mn cannot reach %v: %v", step, ha, err)
		}
		if got.Addr().Unmap() != src {
			t.Fatalf("%s: ha saw mn as %v, want %v", step, got.Addr(), src)
		}
		if _, err := observe(t, l, other); err == nil {
			t.Fatalf("%s: mn reached %v on a single-family link", step, other)
		}
	}
	only("start", true, netlab.WifiPublic4)
	if s := l.State(); s.WifiFamily != netlab.IPv4Only {
		t.Fatalf("state %+v", s)
	}
	steps := []struct {
		name  string
		do    func(context.Context) error
		want4 bool
		src   netip.Addr
		state netlab.MNState
	}{
		{"to cell (configured ipv6-only)", l.MoveToCell, false, netlab.MNCell6, netlab.MNState{CellUp: true, CellFamily: netlab.IPv6Only}},
		{"to wifi", l.MoveToWifi, true, netlab.WifiPublic4, netlab.MNState{WifiUp: true, WifiFamily: netlab.IPv4Only}},
		{"to cell ipv6", l.MoveToCellIPv6, false, netlab.MNCell6, netlab.MNState{CellUp: true, CellFamily: netlab.IPv6Only}},
		{"to wifi ipv4", l.MoveToWifiIPv4, true, netlab.WifiPublic4, netlab.MNState{WifiUp: true, WifiFamily: netlab.IPv4Only}},
	}
	for _, s := range steps {
		if err := s.do(ctx); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := l.State(); got != s.state {
			t.Fatalf("%s: state %+v, want %+v", s.name, got, s.state)
		}
		only(s.name, s.want4, s.src)
	}
}

// TestDualStackToIPv6Move: on an ideal lab, MoveToCellIPv6 takes a
// dual-stack cellular link to IPv6 only and MoveToCell brings IPv4 back.
func TestDualStackToIPv6Move(t *testing.T) {
	t.Parallel()
	l := labtest.NewWith(t, netlab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.MoveToCell(ctx); err != nil {
		t.Fatal(err)
	}
	mustObserve(t, l, "cell dual stack", netlab.CarrierPublic4, netlab.MNCell6)
	if err := l.MoveToCellIPv6(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := observe(t, l, netlab.HAPublic4); err == nil {
		t.Fatal("IPv4 still works after MoveToCellIPv6")
	}
	if got, err := observe(t, l, netlab.HAPublic6); err != nil || got.Addr() != netlab.MNCell6 {
		t.Fatalf("IPv6 after MoveToCellIPv6: %v, %v", got, err)
	}
	// From IPv6-only back to the configured dual stack needs a move to
	// Wi-Fi first: MoveToCell keeps a link that is up as it is.
	if err := l.MoveToWifiIPv4(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.MoveToCell(ctx); err != nil {
		t.Fatal(err)
	}
	mustObserve(t, l, "cell dual stack again", netlab.CarrierPublic4, netlab.MNCell6)
}

// TestBadNetwork: invalid configurations are refused before anything is
// built.
func TestBadNetwork(t *testing.T) {
	for _, c := range []netlab.LinkConfig{
		{MTU: 1000},
		{PathMTU: 1600},
		{SilentPath: true},
		{Delay: time.Millisecond, Jitter: 2 * time.Millisecond},
		{Loss: 0.9},
		{NATUDPTimeout: 1500 * time.Millisecond},
		{Family: 7},
	} {
		_, err := netlab.New(context.Background(), netlab.Options{Network: netlab.Network{Cell: c}})
		if !errors.Is(err, netlab.ErrBadNetwork) {
			t.Errorf("New with cell %+v = %v, want ErrBadNetwork", c, err)
		}
	}
	for _, name := range netlab.ProfileNames() {
		n, err := netlab.Profile(name)
		if err != nil || n.Validate() != nil {
			t.Errorf("profile %s: %v, %v", name, err, n.Validate())
		}
	}
	if _, err := netlab.Profile("nope"); !errors.Is(err, netlab.ErrBadNetwork) {
		t.Errorf("Profile(nope) = %v", err)
	}
}

// TestFieldTeardown builds a lab with every condition, closes it, and
// wants its namespaces and its relays' goroutines gone. It does not run
// in parallel, so no other lab's relay is running.
func TestFieldTeardown(t *testing.T) {
	labtest.Require(t)
	net, err := netlab.Profile("hotel")
	if err != nil {
		t.Fatal(err)
	}
	l, err := netlab.New(context.Background(), netlab.Options{Network: net})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			l.Close()
		}
	})
	if _, err := l.MN.Ping(context.Background(), netlab.HAPublic4, netlab.PingOptions{Count: 5}); err != nil {
		t.Fatal(err)
	}
	if leaktest.Leaked(0, "netlab.(*delayQueue)") == "" {
		t.Fatal("no relay goroutine running in a lab with delay")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if left := namespacesWith(t, l.Prefix); len(left) != 0 {
		t.Fatalf("namespaces left: %v", left)
	}
	if s := leaktest.Leaked(2*time.Second, "netlab.(*delayQueue)"); s != "" {
		t.Fatalf("relay goroutines left after Close:\n%s", s)
	}
	// A lab whose build fails after its relays started leaves nothing
	// either.
	restore := netlab.FailBuildAfterLinks(errors.New("injected failure"))
	defer restore()
	prefix := netlab.NewPrefix()
	if _, err := netlab.New(context.Background(), netlab.Options{Prefix: prefix, Network: net}); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("New with an injected failure = %v", err)
	}
	if left := namespacesWith(t, prefix); len(left) != 0 {
		t.Fatalf("namespaces left after a failed build: %v", left)
	}
	if s := leaktest.Leaked(2*time.Second, "netlab.(*delayQueue)"); s != "" {
		t.Fatalf("relay goroutines left after a failed build:\n%s", s)
	}
}

// TestSetPath shrinks the Wi-Fi path under mn (loud, then silent) and
// restores it, without any event at mn.
func TestSetPath(t *testing.T) {
	t.Parallel()
	l := labtest.NewWith(t, netlab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustPass(t, "before", l.MN, netlab.HAPublic6, 1400)
	if err := l.SetPath(ctx, netlab.LinkWifi, 1280, true); err != nil {
		t.Fatal(err)
	}
	if n := l.Network().Wifi; n.PathMTU != 1280 || !n.SilentPath {
		t.Fatalf("Network().Wifi = %+v after SetPath", n)
	}
	mustBeTooBigOnPath(t, "silent", l.MN, netlab.HAPublic6, 1400, 1280, true)
	mustBeTooBigOnPath(t, "silent downstream", l.HA, netlab.MNWifiA6, 1400, 1280, true)
	if err := l.SetPath(ctx, netlab.LinkWifi, 1300, false); err != nil {
		t.Fatal(err)
	}
	mustBeTooBigOnPath(t, "loud", l.MN, netlab.HAPublic4, 1400, 1300, false)
	if err := l.SetPath(ctx, netlab.LinkWifi, 0, false); err != nil {
		t.Fatal(err)
	}
	mustPass(t, "restored", l.HA, netlab.MNWifiA6, 1500)
	if err := l.SetPath(ctx, netlab.LinkWifi, 0, true); !errors.Is(err, netlab.ErrBadNetwork) {
		t.Fatalf("SetPath silent without MTU = %v, want ErrBadNetwork", err)
	}
}

// TestFlushPathNATsCutsOffReceiver: after the NATs on mn's path forget
// their mappings, ha can no longer reach a node that only receives.
func TestFlushPathNATsCutsOffReceiver(t *testing.T) {
	t.Parallel()
	l := labtest.NewWith(t, netlab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ha, err := l.HA.ListenPacket(ctx, "udp4", netip.AddrPortFrom(netlab.HAPublic4, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	mn, err := l.MN.ListenPacket(ctx, "udp4", ":40002")
	if err != nil {
		t.Fatal(err)
	}
	defer mn.Close()
	for _, move := range []func(context.Context) error{l.MoveToWifi, l.MoveToCell} {
		if err := move(ctx); err != nil {
			t.Fatal(err)
		}
		mapped := udpSource(t, mn, ha)
		reaches := func() bool {
			if _, err := ha.WriteTo([]byte("down"), net.UDPAddrFromAddrPort(mapped)); err != nil {
				t.Fatal(err)
			}
			_ = mn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			_, _, err := mn.ReadFrom(make([]byte, 64))
			return err == nil
		}
		if !reaches() {
			t.Fatalf("%v: ha cannot reach mn through %v before the flush", l.State(), mapped)
		}
		if err := l.FlushPathNATs(ctx); err != nil {
			t.Fatal(err)
		}
		if reaches() {
			t.Fatalf("%v: ha still reaches mn through %v after the flush", l.State(), mapped)
		}
	}
}

func TestParseLink(t *testing.T) {
	for _, c := range []struct {
		spec string
		want netlab.LinkConfig
	}{
		{"cellular", netlab.CellularProfile},
		{"ideal", netlab.LinkConfig{}},
		{"cellular,loss=0,jitter=0", func() netlab.LinkConfig {
			c := netlab.CellularProfile
			c.Loss, c.Jitter = 0, 0
			return c
		}()},
		{"mtu=1400, path-mtu=1280,silent=true", netlab.LinkConfig{MTU: 1400, PathMTU: 1280, SilentPath: true}},
		{"delay=30ms,jitter=7.5ms,loss=0.01,nat-timeout=2s,nat=port-preserving,family=ipv6", netlab.LinkConfig{
			Delay: 30 * time.Millisecond, Jitter: 7500 * time.Microsecond, Loss: 0.01,
			NATUDPTimeout: 2 * time.Second, NAT: netlab.NATPortPreserving, Family: netlab.IPv6Only}},
	} {
		got, err := netlab.ParseLink(c.spec)
		if err != nil || got != c.want {
			t.Errorf("ParseLink(%q) = %+v, %v; want %+v", c.spec, got, err, c.want)
		}
	}
	for _, bad := range []string{"moon", "mtu=1280,cellular", "mtu=x", "colour=red", "silent=true", "family=ipx", "nat=cone", "loss=2"} {
		if _, err := netlab.ParseLink(bad); !errors.Is(err, netlab.ErrBadNetwork) {
			t.Errorf("ParseLink(%q) = %v, want ErrBadNetwork", bad, err)
		}
	}
}
