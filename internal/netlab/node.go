package netlab

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

var netErrClosed = net.ErrClosed

// Node is one namespace of a lab. Its methods are safe for concurrent use.
type Node struct {
	// Role is the node's part in the topology: "cn", "ha", "wifi",
	// "carrier", "cell" or "mn".
	Role string
	// NS is the name of the node's network namespace (as in
	// `ip netns list`), for example "hip3fa2c1-mn".
	NS string
}

// String returns the namespace name.
func (n *Node) String() string { return n.NS }

// Command returns a command that runs name inside the node's namespace
// (through `ip netns exec`). The caller owns the command; processes that
// the lab should kill at Close are started with Lab.Start instead.
func (n *Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// Run runs name inside the node's namespace and returns its combined
// output. A failure's error includes that output.
func (n *Node) Run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := n.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netlab: %s: %s %s: %w: %s", n.NS, name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ip runs `ip -n NS -batch -` with the given commands, one per line.
func (n *Node) ip(ctx context.Context, lines ...string) error {
	cmd := exec.CommandContext(ctx, "ip", "-n", n.NS, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: %s: ip batch [%s]: %w: %s", n.NS, strings.Join(lines, "; "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// nft loads an nft script into the node's namespace.
func (n *Node) nft(ctx context.Context, script string) error {
	cmd := n.Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: %s: nft: %w: %s", n.NS, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Do runs fn on an OS thread switched into the node's namespace and
// switches back afterwards. Sockets fn creates belong to the namespace
// for their whole life, so a connection dialled in Do can be used from
// any goroutine later. Goroutines that fn starts do NOT run in the
// namespace. If switching back fails, the thread is discarded rather than
// returned to the Go scheduler.
func (n *Node) Do(fn func() error) error {
	target, err := netns.GetFromName(n.NS)
	if err != nil {
		return fmt.Errorf("netlab: opening namespace %s: %w", n.NS, err)
	}
	defer target.Close()
	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("netlab: reading current namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("netlab: entering namespace %s: %w", n.NS, err)}
			return
		}
		var res result
		func() {
			defer func() { res.panic = recover() }()
			res.err = fn()
		}()
		if err := netns.Set(orig); err != nil {
			// Keep the thread locked: it dies with this goroutine.
			if res.err == nil {
				res.err = fmt.Errorf("netlab: leaving namespace %s: %w", n.NS, err)
			}
			done <- res
			return
		}
		runtime.UnlockOSThread()
		done <- res
	}()
	res := <-done
	if res.panic != nil {
		panic(res.panic)
	}
	return res.err
}

// Dial connects to address from inside the node's namespace.
func (n *Node) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Listen opens a stream listener inside the node's namespace.
func (n *Node) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() error {
		var lc net.ListenConfig
		var err error
		l, err = lc.Listen(ctx, network, address)
		return err
	})
	return l, err
}

// ListenPacket opens a packet socket inside the node's namespace.
func (n *Node) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := n.Do(func() error {
		var lc net.ListenConfig
		var err error
		pc, err = lc.ListenPacket(ctx, network, address)
		return err
	})
	return pc, err
}

// Netlink returns a netlink handle bound to the node's namespace. The
// caller closes it (Handle.Close).
func (n *Node) Netlink() (*netlink.Handle, error) {
	ns, err := netns.GetFromName(n.NS)
	if err != nil {
		return nil, fmt.Errorf("netlab: opening namespace %s: %w", n.NS, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlab: netlink handle in %s: %w", n.NS, err)
	}
	return h, nil
}
