//go:build linux && !android

package tunnel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// requireLab skips the test when it cannot create network namespaces, or
// fails it when HOMEIP_REQUIRE_LAB=1.
func requireLab(t testing.TB) {
	t.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "needs root"
	default:
		if _, err := exec.LookPath("ip"); err != nil {
			why = "needs ip(8)"
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("HOMEIP_REQUIRE_LAB") == "1" {
		t.Fatalf("lab test cannot run (%s) and HOMEIP_REQUIRE_LAB=1", why)
	}
	t.Skipf("lab test: %s", why)
}

// labPrefix returns "hip" and 6 random hex digits.
func labPrefix(t testing.TB) string {
	t.Helper()
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "hip" + hex.EncodeToString(b[:])
}

// run runs a command and fails the test with its output on error.
func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := runErr(args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

// newNetns creates namespace name, removed when the test ends, with lo up.
func newNetns(t testing.TB, name string) {
	t.Helper()
	if out, err := runErr("ip", "netns", "add", name); err != nil {
		if os.Getenv("HOMEIP_REQUIRE_LAB") == "1" {
			t.Fatalf("creating namespace: %v\n%s", err, out)
		}
		t.Skipf("cannot create a network namespace: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := runErr("ip", "netns", "del", name); err != nil {
			t.Errorf("removing namespace %s: %v\n%s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
}

// inNetns runs fn on a thread switched into namespace name. If switching
// back fails the thread is left locked and dies with the goroutine.
func inNetns(t testing.TB, name string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	var ferr error
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ferr = err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(name)
		if err != nil {
			ferr = err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			ferr = err
			return
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					ferr = fmt.Errorf("panic: %v", r)
				}
			}()
			fn()
		}()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	<-done
	if ferr != nil {
		t.Fatalf("in namespace %s: %v", name, ferr)
	}
}

// netlinkAt returns a handle for namespace name, closed when the test ends.
func netlinkAt(t testing.TB, name string) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// echoPort is the UDP port of the echo servers started by startEcho.
const echoPort = 7777

// startEcho runs a UDP echo server on all addresses of namespace ns until
// the test ends.
func startEcho(t testing.TB, ns string) {
	t.Helper()
	var c *net.UDPConn
	inNetns(t, ns, func() {
		var err error
		c, err = net.ListenUDP("udp", &net.UDPAddr{Port: echoPort})
		if err != nil {
			panic(err)
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
}

// probe sends a datagram from namespace ns to dst's echo server until the
// echo comes back or tries (one second each) run out.
func probe(t testing.TB, ns string, dst netip.Addr, tries int) error {
	t.Helper()
	var c *net.UDPConn
	inNetns(t, ns, func() {
		var err error
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, echoPort)))
		if err != nil {
			panic(err)
		}
	})
	defer c.Close()
	msg := []byte("probe " + dst.String())
	buf := make([]byte, 100)
	var last error
	for i := 0; i < tries; i++ {
		if _, err := c.Write(msg); err != nil {
			last = err
			continue
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil && bytes.Equal(buf[:n], msg) {
			return nil
		}
		last = err
	}
	return fmt.Errorf("no echo from %v in namespace %s: %v", dst, ns, last)
}
