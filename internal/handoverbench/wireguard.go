package handoverbench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/homeip/homeip/internal/netlab"
)

// The plain WireGuard path's addresses: the node's static tunnel
// addresses (inside the lab's VIP pools) and ha's listen port.
var (
	WGNode4 = netip.MustParseAddr("192.0.2.250")
	WGNode6 = netip.MustParseAddr("2001:db8:100::250")
)

// WGPort is the plain WireGuard path's UDP port on ha.
const WGPort = 51820

// WGKeepalive is the node's persistent keepalive on the plain WireGuard
// path: 25 s, the value most deployments (and wg-quick examples) use.
const WGKeepalive = 25 * time.Second

// WireGuard is stock wireguard-go on ha and on the node, configured
// statically with `wg` and `ip`: ha's peer is the node with AllowedIPs
// its two addresses and no endpoint (WireGuard roaming learns it); the
// node's peer is ha at HAPublic4:WGPort with a persistent keepalive of
// WGKeepalive and AllowedIPs the home LAN. Nothing else runs: no
// `BindUpdate` on link changes, no binding updates.
//
// ha's routes towards the Wi-Fi and carrier routers get HAPublic4 as
// their preferred source, as on a host with one public address. Without
// that, stock wireguard-go answers from the kernel's choice of source
// address (its Bind loses IP_PKTINFO when it splits a UDP GRO batch, see
// DESIGN.md), which on the lab's ha is the link address, not the one the
// node sent to, and the NAT in front of the node drops every reply: the
// tunnel would never come up at all, which is not the baseline we want
// to measure.
type WireGuard struct {
	Lab                *netlab.Lab
	HAIface, NodeIface string

	dir       string
	procs     []*netlab.Process
	cancel    context.CancelFunc
	closeOnce sync.Once
}

// StartWireGuard brings the plain WireGuard tunnel up; the handshake
// happens when the node first sends. dir must exist; key files are
// written there.
func StartWireGuard(ctx context.Context, lab *netlab.Lab, bin Binaries, dir string) (*WireGuard, error) {
	if err := check(bin.WireGuardGo); err != nil {
		return nil, err
	}
	base := lab.Prefix[:min(len(lab.Prefix), 13)]
	w := &WireGuard{Lab: lab, HAIface: base + "wh", NodeIface: base + "wn", dir: dir}
	pctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	fail := func(err error) (*WireGuard, error) {
		_ = w.Close()
		return nil, err
	}
	haKey, err := writeKey(filepath.Join(dir, "ha.key"))
	if err != nil {
		return fail(err)
	}
	nodeKey, err := writeKey(filepath.Join(dir, "node.key"))
	if err != nil {
		return fail(err)
	}
	for _, n := range []struct {
		node  *netlab.Node
		iface string
	}{{lab.HA, w.HAIface}, {lab.MN, w.NodeIface}} {
		p, err := lab.Start(pctx, n.node, bin.WireGuardGo, "-f", n.iface)
		if err != nil {
			return fail(err)
		}
		w.procs = append(w.procs, p)
		if err := waitSocket(ctx, n.iface, p); err != nil {
			return fail(err)
		}
	}
	ha := []struct {
		cmd  string
		args []string
	}{
		{"wg", []string{"set", w.HAIface, "listen-port", fmt.Sprint(WGPort), "private-key", filepath.Join(dir, "ha.key"),
			"peer", nodeKey.PublicKey().String(), "allowed-ips", WGNode4.String() + "/32," + WGNode6.String() + "/128"}},
		{"ip", []string{"route", "replace", netlab.WifiWAN4.String(), "dev", "wifi0", "src", netlab.HAPublic4.String()}},
		{"ip", []string{"route", "replace", netlab.CellWAN4.String(), "dev", "cell0", "src", netlab.HAPublic4.String()}},
		{"ip", []string{"addr", "add", netlab.HATunnel4.String() + "/32", "dev", w.HAIface}},
		{"ip", []string{"addr", "add", netlab.HATunnel6.String() + "/128", "dev", w.HAIface, "nodad"}},
		{"ip", []string{"link", "set", w.HAIface, "up"}},
		{"ip", []string{"route", "add", WGNode4.String() + "/32", "dev", w.HAIface}},
		{"ip", []string{"-6", "route", "add", WGNode6.String() + "/128", "dev", w.HAIface}},
	}
	node := []struct {
		cmd  string
		args []string
	}{
		{"wg", []string{"set", w.NodeIface, "private-key", filepath.Join(dir, "node.key"),
			"peer", haKey.PublicKey().String(), "endpoint", netip.AddrPortFrom(netlab.HAPublic4, WGPort).String(),
			"persistent-keepalive", fmt.Sprint(int(WGKeepalive / time.Second)),
			"allowed-ips", netlab.HomeLAN4.String() + "," + netlab.HomeLAN6.String()}},
		{"ip", []string{"addr", "add", WGNode4.String() + "/32", "dev", w.NodeIface}},
		{"ip", []string{"addr", "add", WGNode6.String() + "/128", "dev", w.NodeIface, "nodad"}},
		{"ip", []string{"link", "set", w.NodeIface, "up"}},
		{"ip", []string{"route", "add", netlab.HomeLAN4.String(), "dev", w.NodeIface, "src", WGNode4.String()}},
		{"ip", []string{"-6", "route", "add", netlab.HomeLAN6.String(), "dev", w.NodeIface, "src", WGNode6.String()}},
	}
	for _, step := range ha {
		if _, err := lab.HA.Run(ctx, step.cmd, step.args...); err != nil {
			return fail(fmt.Errorf("handoverbench: plain wireguard on ha: %w", err))
		}
	}
	for _, step := range node {
		if _, err := lab.MN.Run(ctx, step.cmd, step.args...); err != nil {
			return fail(fmt.Errorf("handoverbench: plain wireguard on mn: %w", err))
		}
	}
	return w, nil
}

// writeKey generates a WireGuard private key and writes it (base64, as
// `wg genkey` does) to a 0600 file.
func writeKey(path string) (wgtypes.Key, error) {
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return k, fmt.Errorf("handoverbench: generating key: %w", err)
	}
	if err := os.WriteFile(path, []byte(k.String()+"\n"), 0o600); err != nil {
		return k, fmt.Errorf("handoverbench: writing key: %w", err)
	}
	return k, nil
}

// waitSocket waits for wireguard-go's UAPI socket of iface.
func waitSocket(ctx context.Context, iface string, p *netlab.Process) error {
	sock := filepath.Join("/var/run/wireguard", iface+".sock")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("handoverbench: wireguard-go %s exited: %w: %s", iface, p.Wait(ctx), tail(p.Output(), 10))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("handoverbench: wireguard-go created no UAPI socket " + sock)
		}
	}
}

// Close stops both wireguard-go processes (which removes their
// interfaces and sockets) and removes sockets a killed one left. It is
// idempotent.
func (w *WireGuard) Close() error {
	w.closeOnce.Do(func() {
		for _, p := range w.procs {
			p.Stop(2 * time.Second)
		}
		w.cancel()
		for _, iface := range []string{w.HAIface, w.NodeIface} {
			_ = os.Remove(filepath.Join("/var/run/wireguard", iface+".sock"))
		}
	})
	return nil
}
