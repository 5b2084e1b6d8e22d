package tunnelbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netns"
)

// newPrefix returns "hip" and 6 random hex digits.
func newPrefix() (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("tunnelbench: random prefix: %w", err)
	}
	return "hip" + hex.EncodeToString(b[:]), nil
}

// ipCmd runs ip(8) with args.
func ipCmd(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tunnelbench: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// topology is the two namespaces and their veth pair.
type topology struct {
	server, client string // namespace names
}

// buildTopology creates the namespaces and the veth link, of MTU linkMTU
// on both ends (0: the veth default). On error what was created is
// removed.
func buildTopology(ctx context.Context, prefix string, linkMTU int) (t *topology, err error) {
	t = &topology{server: prefix + "s", client: prefix + "c"}
	if err := ipCmd(ctx, "netns", "add", t.server); err != nil {
		return nil, err
	}
	if err := ipCmd(ctx, "netns", "add", t.client); err != nil {
		ipCmd(context.Background(), "netns", "del", t.server)
		return nil, err
	}
	defer func() {
		if err != nil {
			t.remove()
		}
	}()
	steps := [][]string{
		{"link", "add", "veth0", "netns", t.server, "type", "veth", "peer", "name", "veth0", "netns", t.client},
		{"-n", t.server, "addr", "add", "198.18.0.1/24", "dev", "veth0"},
		{"-n", t.client, "addr", "add", "198.18.0.2/24", "dev", "veth0"},
	}
	for _, ns := range []string{t.server, t.client} {
		if linkMTU != 0 {
			steps = append(steps, []string{"-n", ns, "link", "set", "dev", "veth0", "mtu", strconv.Itoa(linkMTU)})
		}
		steps = append(steps, []string{"-n", ns, "link", "set", "lo", "up"}, []string{"-n", ns, "link", "set", "veth0", "up"})
	}
	for _, s := range steps {
		if err := ipCmd(ctx, s...); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// remove deletes both namespaces (and with them every interface in them).
func (t *topology) remove() error {
	e1 := ipCmd(context.Background(), "netns", "del", t.server)
	e2 := ipCmd(context.Background(), "netns", "del", t.client)
	if e1 != nil {
		return e1
	}
	return e2
}

// inNetns runs fn on a thread switched into namespace name. If switching
// back fails the thread stays locked and dies with its goroutine.
func inNetns(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(name)
		if err != nil {
			errc <- fmt.Errorf("tunnelbench: namespace %s: %w", name, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("tunnelbench: entering %s: %w", name, err)
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}
