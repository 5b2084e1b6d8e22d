package netlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Check reports whether this machine can build a lab: root, `ip` and `nft`
// installed, a namespace with a veth pair and a masquerading nftables NAT
// can be created. It returns an error wrapping ErrNotRoot, ErrMissingTool,
// ErrNoNetns or ErrNoNftables, and never hangs (at most ~15 s).
func Check() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w (euid %d)", ErrNotRoot, os.Geteuid())
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s (install iproute2 and nftables): %w", ErrMissingTool, tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	name := "hipchk" + NewPrefix()[3:]
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("%w: ip netns add: %w: %s", ErrNoNetns, err, strings.TrimSpace(string(out)))
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		_ = deleteNamespace(dctx, name)
	}()
	n := &Node{Role: "check", NS: name}
	if err := n.ip(ctx, "link add a0 type veth peer name b0"); err != nil {
		return fmt.Errorf("%w: veth pair: %w", ErrNoNetns, err)
	}
	if err := n.nft(ctx, natScript(NATSymmetric)); err != nil {
		return fmt.Errorf("%w: %w", ErrNoNftables, err)
	}
	return nil
}

// CheckNetwork reports whether this machine can build a lab with access
// networks n, beyond what Check needs: n is valid (ErrBadNetwork), and
// iptables-nft, whose NFQUEUE target the delay relay needs, is installed
// when a link has delay (ErrMissingTool).
func CheckNetwork(n Network) error {
	if err := n.Validate(); err != nil {
		return err
	}
	if n.Wifi.Delay > 0 || n.Cell.Delay > 0 {
		if _, err := exec.LookPath("iptables-nft"); err != nil {
			return fmt.Errorf("%w: iptables-nft (install iptables) for link delay: %w", ErrMissingTool, err)
		}
	}
	return nil
}
