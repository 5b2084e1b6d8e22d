package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Options configures a lab. The zero value is ready to use.
type Options struct {
	// Prefix names the lab's namespaces (Prefix + "-" + role). It must
	// start with "hip" and hold only lower-case letters and digits, at most
	// 20 characters. Default: "hip" and 6 random hex characters.
	Prefix string
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
	// Network describes the access networks (MTUs, path MTU, delay,
	// jitter, loss, NAT timeouts and behaviour, IP versions). The zero
	// value is the ideal lab; Profile returns named ones.
	Network Network
}

// Lab is one instance of the topology. Its methods are safe for
// concurrent use; moves of the mobile node are serialised.
type Lab struct {
	// Prefix is the unique prefix of the lab's namespace names.
	Prefix string
	// The lab's nodes: the correspondent node, the home agent, the Wi-Fi
	// router (NAT), the carrier (outer CGNAT stage), the cell router
	// (inner NAT stage) and the mobile node.
	CN, HA, Wifi, Carrier, Cell, MN *Node

	log *slog.Logger

	moveMu  sync.Mutex // serialises moves and path changes; guards state, dirty, net, pathSet
	net     Network
	pathSet map[LinkID]bool // route MTUs were set for the link (SetPath must remove them)

	state MNState
	dirty bool // a move failed half-way: mn's links are in an unknown state

	spawn spawner // the thread processes are started from (see spawner)

	mu     sync.Mutex // guards the fields below
	closed bool
	procs  map[*Process]struct{}
	nsMade []*Node // namespaces created, in order
	relays []*delayQueue

	closeOnce sync.Once
	closeErr  error
}

// MNState is which of the mobile node's links are up, and how.
type MNState struct {
	WifiUp bool
	// WifiSubnetB is true when wlan0 is in the renumbered subnet
	// (WifiLANB4 / WifiLANB6).
	WifiSubnetB bool
	CellUp      bool
	// WifiFamily and CellFamily are the IP versions each link has while
	// up (DualStack while down).
	WifiFamily Family
	CellFamily Family
}

// WifiAddrs returns mn's Wi-Fi addresses for the state's subnet.
func (s MNState) WifiAddrs() (v4, v6 string) {
	if s.WifiSubnetB {
		return MNWifiB4.String(), MNWifiB6.String()
	}
	return MNWifiA4.String(), MNWifiA6.String()
}

var prefixRE = regexp.MustCompile(`^hip[a-z0-9]{1,17}$`)

// NewPrefix returns a fresh random lab prefix ("hip" + 6 hex characters).
func NewPrefix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "hip" + hex.EncodeToString(b[:])
}

// registry of labs open in this process, for CloseAll.
var (
	openMu sync.Mutex
	open   = map[*Lab]struct{}{}
)

// CloseAll closes every lab this process has opened and not yet closed.
// Signal handlers of the CLI and the demo call it.
func CloseAll() error {
	openMu.Lock()
	labs := make([]*Lab, 0, len(open))
	for l := range open {
		labs = append(labs, l)
	}
	openMu.Unlock()
	var errs []error
	for _, l := range labs {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// New builds a lab: namespaces, veth pairs, addresses, routes, NAT. The
// mobile node starts on Wi-Fi (subnet A) with wwan0 down. On failure
// everything built so far is removed. Call Check first for a clear
// diagnosis of an unsuitable machine.
func New(ctx context.Context, opt Options) (*Lab, error) {
	prefix := opt.Prefix
	if prefix == "" {
		prefix = NewPrefix()
	}
	if !prefixRE.MatchString(prefix) {
		return nil, fmt.Errorf("%w: %q (want hip + 1..17 of [a-z0-9])", ErrBadPrefix, prefix)
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := opt.Network.Validate(); err != nil {
		return nil, err
	}
	log = log.With("component", "netlab", "lab", prefix)
	l := &Lab{
		Prefix:  prefix,
		log:     log,
		net:     opt.Network,
		pathSet: map[LinkID]bool{},
		procs:   map[*Process]struct{}{},
	}
	node := func(role string) *Node { return &Node{Role: role, NS: prefix + "-" + role} }
	l.CN, l.HA, l.Wifi, l.Carrier, l.Cell, l.MN = node("cn"), node("ha"), node("wifi"), node("carrier"), node("cell"), node("mn")

	if err := writeOwner(prefix); err != nil {
		return nil, err
	}
	openMu.Lock()
	open[l] = struct{}{}
	openMu.Unlock()

	start := time.Now()
	if err := l.build(ctx); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	l.log.Info("lab up", "took", time.Since(start).Round(time.Millisecond), "wifi", l.net.Wifi.String(), "cell", l.net.Cell.String())
	return l, nil
}

// Nodes returns the lab's nodes.
func (l *Lab) Nodes() []*Node {
	return []*Node{l.CN, l.HA, l.Wifi, l.Carrier, l.Cell, l.MN}
}

// State returns which of the mobile node's links are up.
func (l *Lab) State() MNState {
	l.moveMu.Lock()
	defer l.moveMu.Unlock()
	return l.state
}

func (l *Lab) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close kills the processes started with Start (SIGTERM, then SIGKILL
// after half a second) and any other process left in the lab's
// namespaces, stops the delay relays, and deletes the namespaces, which takes their interfaces and
// nftables state with them. It is idempotent and safe to call
// concurrently; every call returns the first call's result once teardown
// is finished.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		procs := make([]*Process, 0, len(l.procs))
		for p := range l.procs {
			procs = append(procs, p)
		}
		made := append([]*Node(nil), l.nsMade...)
		l.mu.Unlock()

		var errs []error
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Go(func() { p.Stop(500 * time.Millisecond) })
		}
		wg.Wait()
		l.spawn.stop()
		l.stopRelays()

		// Teardown must finish even if the caller's context is gone.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := len(made) - 1; i >= 0; i-- {
			if err := deleteNamespace(ctx, made[i].NS); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) == 0 {
			removeOwner(l.Prefix)
		}
		openMu.Lock()
		delete(open, l)
		openMu.Unlock()
		l.closeErr = errors.Join(errs...)
		l.log.Info("lab down", "err", l.closeErr)
	})
	return l.closeErr
}

// deleteNamespace kills every process in the namespace and deletes it.
func deleteNamespace(ctx context.Context, name string) error {
	killNamespacePids(ctx, name)
	out, err := exec.CommandContext(ctx, "ip", "netns", "del", name).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "No such file") {
			return nil
		}
		return fmt.Errorf("netlab: deleting namespace %s: %w: %s", name, err, msg)
	}
	return nil
}

// Detach forgets l without tearing it down: CloseAll will not close it and
// the lab outlives this process (until CleanAll removes it, which it does
// once this process has exited). For `homeip-lab lab up -detach`.
func Detach(l *Lab) {
	openMu.Lock()
	delete(open, l)
	openMu.Unlock()
}
