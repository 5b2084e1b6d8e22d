package handoverbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/homeip/homeip/internal/netlab"
)

// HomeIPOptions configures a homeip deployment in a lab.
type HomeIPOptions struct {
	// Bin locates ha and mnode.
	Bin Binaries
	// Dir holds the home agent's data directory and admin socket and the
	// node's state directory. It must exist; the caller removes it.
	Dir string
	// Port is the home agent's UDP port (WireGuard and QUIC); default
	// 51830.
	Port uint16
	// DeviceName is the name the device is enrolled under; default
	// "phone".
	DeviceName string
	// HAArgs and NodeArgs are extra flags for `ha serve` and `mnode up`.
	HAArgs, NodeArgs []string
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
	// OnStep, if set, is called with a short line as each step of the
	// bring-up completes (for the demo's live account).
	OnStep func(string)
}

// HomeIP is ha and mnode running in a lab: ha in the ha namespace, the
// node in mn. Its methods are safe for concurrent use.
type HomeIP struct {
	Lab *netlab.Lab
	// HAIface and NodeIface are the WireGuard interfaces of ha and mnode.
	HAIface, NodeIface string
	// Token is the enrolment token the device redeemed.
	Token string
	// VIP4 and VIP6 are the node's addresses once it registered.
	VIP4, VIP6 netip.Addr

	opt                        HomeIPOptions
	haDir, stateDir, adminSock string
	log                        *slog.Logger
	procCtx                    context.Context
	procCancel                 context.CancelFunc
	mu                         sync.Mutex // guards ha, node
	ha, node                   *netlab.Process
	closeOnce                  sync.Once
}

// StartHomeIP starts the home agent, enrols a device, starts the node and
// waits until the node reports itself registered with its VIPs. On error
// everything started is stopped again, and the error carries the tail of
// both programs' output.
func StartHomeIP(ctx context.Context, lab *netlab.Lab, opt HomeIPOptions) (*HomeIP, error) {
	if err := check(opt.Bin.HA, opt.Bin.MNode); err != nil {
		return nil, err
	}
	if opt.Dir == "" {
		return nil, errors.New("handoverbench: HomeIPOptions.Dir is required")
	}
	if opt.Port == 0 {
		opt.Port = 51830
	}
	if opt.DeviceName == "" {
		opt.DeviceName = "phone"
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := lab.Prefix[:min(len(lab.Prefix), 13)]
	h := &HomeIP{
		Lab: lab, HAIface: base + "ha", NodeIface: base + "mn",
		opt:       opt,
		haDir:     filepath.Join(opt.Dir, "ha"),
		stateDir:  filepath.Join(opt.Dir, "mnode"),
		adminSock: filepath.Join(opt.Dir, "ha", "admin.sock"),
		log:       log.With("component", "handoverbench", "path", "homeip"),
	}
	h.procCtx, h.procCancel = context.WithCancel(context.Background())
	fail := func(err error) (*HomeIP, error) {
		logs := h.Logs()
		_ = h.Close()
		return nil, fmt.Errorf("%w\n%s", err, logs)
	}
	step := func(format string, args ...any) {
		if opt.OnStep != nil {
			opt.OnStep(fmt.Sprintf(format, args...))
		}
	}
	if err := h.StartHA(ctx); err != nil {
		return fail(err)
	}
	step("ha serving in %s on %v (WireGuard and QUIC on one UDP port), pools %v and %v",
		lab.HA.NS, netip.AddrPortFrom(netlab.HAPublic4, opt.Port), netlab.VIPPool4, netlab.VIPPool6)
	if err := h.enroll(ctx); err != nil {
		return fail(err)
	}
	step("ha device add %s → one-time token %.24s…; mnode enroll redeemed it in %s", opt.DeviceName, h.Token, lab.MN.NS)
	if err := h.StartNode(ctx); err != nil {
		return fail(err)
	}
	started := time.Now()
	st, err := h.WaitStatus(ctx, 30*time.Second, "registered with VIPs", func(s NodeStatus) bool {
		return s.State == "registered" && s.VIP4.IsValid() && s.VIP6.IsValid()
	})
	if err != nil {
		return fail(err)
	}
	h.VIP4, h.VIP6 = st.VIP4, st.VIP6
	step("mnode up: registered in %v on %s, care-of %v (as ha sees it, after NAT)",
		time.Since(started).Round(time.Millisecond), st.Interface, st.CareOf)
	h.log.Info("homeip up", "vip4", st.VIP4, "vip6", st.VIP6, "care_of", st.CareOf)
	return h, nil
}

// haArgs are the `ha serve` flags of the lab's home agent. It listens on
// both of its public addresses (one dual-stack socket) and puts both in
// enrolment tokens, IPv4 first, so that a node whose link has only IPv6
// (MoveToCellIPv6) still reaches it.
func (h *HomeIP) haArgs() []string {
	ep4 := netip.AddrPortFrom(netlab.HAPublic4, h.opt.Port).String()
	ep6 := netip.AddrPortFrom(netlab.HAPublic6, h.opt.Port).String()
	args := []string{"serve",
		"--data-dir", h.haDir,
		"--admin-socket", h.adminSock,
		"--listen", netip.AddrPortFrom(netip.IPv6Unspecified(), h.opt.Port).String(),
		"--public-addr", ep4,
		"--public-addr", ep6,
		"--interface", h.HAIface,
		"--pool4", netlab.VIPPool4.String(),
		"--pool6", netlab.VIPPool6.String(),
		"--tunnel4", netlab.HATunnel4.String(),
		"--tunnel6", netlab.HATunnel6.String(),
		"--route", netlab.HomeLAN4.String(),
		"--route", netlab.HomeLAN6.String(),
	}
	return append(args, h.opt.HAArgs...)
}

// StartHA starts `ha serve` (again, after StopHA) and waits until its
// admin API answers.
func (h *HomeIP) StartHA(ctx context.Context) error {
	if err := os.MkdirAll(h.haDir, 0o700); err != nil {
		return fmt.Errorf("handoverbench: %w", err)
	}
	h.mu.Lock()
	if h.ha != nil {
		select {
		case <-h.ha.Done():
		default:
			h.mu.Unlock()
			return errors.New("handoverbench: ha is already running")
		}
	}
	p, err := h.Lab.Start(h.procCtx, h.Lab.HA, h.opt.Bin.HA, h.haArgs()...)
	if err != nil {
		h.mu.Unlock()
		return err
	}
	h.ha = p
	h.mu.Unlock()
	// Ready when the admin API lists bindings.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := h.Lab.HA.Run(ctx, h.opt.Bin.HA, "binding", "list", "--admin-socket", h.adminSock, "--json")
		if err == nil {
			h.log.Info("ha up", "pid", p.Pid())
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("handoverbench: ha exited at start: %w", p.Wait(ctx))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("handoverbench: ha admin API not answering after 20 s: %w", err)
		}
	}
}

// StopHA sends ha SIGTERM and waits for it to exit (SIGKILL after
// grace). It returns ha's exit error, nil for a clean exit.
func (h *HomeIP) StopHA(grace time.Duration) error {
	h.mu.Lock()
	p := h.ha
	h.mu.Unlock()
	if p == nil {
		return nil
	}
	p.Stop(grace)
	return p.Wait(context.Background())
}

// RestartHA stops ha with SIGTERM and starts it again with the same data
// directory and flags.
func (h *HomeIP) RestartHA(ctx context.Context, grace time.Duration) error {
	if err := h.StopHA(grace); err != nil {
		return fmt.Errorf("handoverbench: ha did not exit cleanly on SIGTERM: %w", err)
	}
	return h.StartHA(ctx)
}

// enroll creates the device and redeems its token in the node's
// namespace.
func (h *HomeIP) enroll(ctx context.Context) error {
	out, err := h.Lab.HA.Run(ctx, h.opt.Bin.HA, "device", "add", h.opt.DeviceName, "--admin-socket", h.adminSock, "--json")
	if err != nil {
		return fmt.Errorf("handoverbench: ha device add: %w", err)
	}
	var added struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil || added.Token == "" {
		return fmt.Errorf("handoverbench: ha device add printed no token in JSON: %q", out)
	}
	h.Token = added.Token
	if _, err := h.Lab.MN.Run(ctx, h.opt.Bin.MNode, "enroll", added.Token, "--state-dir", h.stateDir); err != nil {
		return fmt.Errorf("handoverbench: mnode enroll: %w", err)
	}
	return nil
}

// StartNode starts `mnode up` in the node's namespace.
func (h *HomeIP) StartNode(ctx context.Context) error {
	args := append([]string{"up", "--state-dir", h.stateDir, "--interface", h.NodeIface}, h.opt.NodeArgs...)
	h.mu.Lock()
	defer h.mu.Unlock()
	p, err := h.Lab.Start(h.procCtx, h.Lab.MN, h.opt.Bin.MNode, args...)
	if err != nil {
		return err
	}
	h.node = p
	return nil
}

// NodeStatus is what `mnode status --json` reports (the fields the lab
// uses).
type NodeStatus struct {
	State          string         `json:"state"`
	VIP4           netip.Addr     `json:"vip4"`
	VIP6           netip.Addr     `json:"vip6"`
	CareOf         netip.AddrPort `json:"care_of"`
	Local          netip.Addr     `json:"local"`
	Interface      string         `json:"interface"`
	Standby        string         `json:"standby"`
	RTTms          float64        `json:"rtt_ms"`
	KeepaliveS     float64        `json:"keepalive_s"`
	Handovers      int            `json:"handovers"`
	LastHandoverMs float64        `json:"last_handover_ms"`
	Seq            uint16         `json:"seq"`
	Reconnects     int            `json:"reconnects"`
	LastError      string         `json:"last_error"`
}

// Status runs `mnode status --json`.
func (h *HomeIP) Status(ctx context.Context) (NodeStatus, error) {
	out, err := h.Lab.MN.Run(ctx, h.opt.Bin.MNode, "status", "--state-dir", h.stateDir, "--json")
	if err != nil {
		return NodeStatus{}, fmt.Errorf("handoverbench: mnode status: %w", err)
	}
	var st NodeStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return NodeStatus{}, fmt.Errorf("handoverbench: mnode status --json: %w: %q", err, out)
	}
	return st, nil
}

// WaitStatus polls the node's status until cond holds, for at most
// limit. A node that exits fails the wait at once.
func (h *HomeIP) WaitStatus(ctx context.Context, limit time.Duration, what string, cond func(NodeStatus) bool) (NodeStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	h.mu.Lock()
	node := h.node
	h.mu.Unlock()
	var last NodeStatus
	var lastErr error
	for {
		st, err := h.Status(ctx)
		if err == nil && cond(st) {
			return st, nil
		}
		last, lastErr = st, err
		var exited <-chan struct{}
		if node != nil {
			exited = node.Done()
		}
		select {
		case <-exited:
			return last, fmt.Errorf("handoverbench: mnode exited while waiting for %s: %w", what, node.Wait(context.Background()))
		case <-ctx.Done():
			if lastErr != nil {
				return last, fmt.Errorf("handoverbench: waiting for node %s: %w (last: %w)", what, ctx.Err(), lastErr)
			}
			return last, fmt.Errorf("handoverbench: waiting for node %s: %w (last status: %+v)", what, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Bindings returns `ha binding list --json` as printed, for diagnostics.
func (h *HomeIP) Bindings(ctx context.Context) (string, error) {
	return h.Lab.HA.Run(ctx, h.opt.Bin.HA, "binding", "list", "--admin-socket", h.adminSock, "--json")
}

// Logs returns the last lines of ha's and mnode's output, for failure
// messages.
func (h *HomeIP) Logs() string {
	h.mu.Lock()
	ha, node := h.ha, h.node
	h.mu.Unlock()
	var b strings.Builder
	for _, p := range []struct {
		name string
		p    *netlab.Process
	}{{"ha", ha}, {"mnode", node}} {
		if p.p == nil {
			continue
		}
		fmt.Fprintf(&b, "--- %s output (last 60 lines) ---\n%s\n", p.name, tail(p.p.Output(), 60))
	}
	return b.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{"… " + strconv.Itoa(len(lines)-n) + " lines before"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// Close stops the node and the home agent (SIGTERM, then SIGKILL) and
// removes the UAPI sockets they may have left behind. It is idempotent
// and always returns nil; a program's exit status is in its output.
func (h *HomeIP) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		ha, node := h.ha, h.node
		h.mu.Unlock()
		if node != nil {
			node.Stop(3 * time.Second)
		}
		if ha != nil {
			ha.Stop(3 * time.Second)
		}
		h.procCancel()
		for _, iface := range []string{h.HAIface, h.NodeIface} {
			_ = os.Remove(filepath.Join("/var/run/wireguard", iface+".sock"))
		}
	})
	return nil
}
