package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Config configures a Node. Fields marked optional have a useful zero
// value; defaults are applied in withDefaults.
type Config struct {
	// StateDir holds the enrolment; required.
	StateDir *StateDir
	// NewDataPlane creates the data plane once the node knows its keys;
	// required. The node closes it when Run returns.
	NewDataPlane func(DataPlaneConfig) (DataPlane, error)
	// Watcher reports network changes; nil means a static network (no
	// movement detection, the kernel's routing decides).
	Watcher NetWatcher
	// Host configures the OS around the tunnel; nil configures nothing
	// (a mobile OS does it). Run calls Host.Close when it returns.
	Host Host
	// TunnelName is the tunnel interface's name, for status only.
	TunnelName string
	// Preference orders interface kinds (default wired, Wi-Fi, cellular).
	Preference Preference
	// FullTunnel sends all traffic through the tunnel.
	FullTunnel bool
	// ListenPort is the local UDP port of the shared socket (0 = random).
	ListenPort uint16
	// Lifetime is the binding lifetime asked for (default 10 min); the
	// node refreshes at two thirds of the granted lifetime.
	Lifetime time.Duration
	// Keepalive tunes the NAT timeout learner.
	Keepalive KeepaliveConfig
	// IdleKeepalive tunes the probe socket that learns the NAT timeout
	// and the live interval derived from it; its Search defaults to
	// Keepalive.
	IdleKeepalive IdleKeepaliveConfig
	// Backoff paces reconnection attempts.
	Backoff Backoff
	// HeartbeatTimeout is how long a heartbeat may stay unanswered; zero
	// adapts it to the path: four smoothed RTTs, at least 500 ms and at
	// most 2 s. HeartbeatRetries more are sent at once before the path is
	// declared dead (default 2). A silently dead path is thus noticed
	// within the keepalive interval plus (1+retries) timeouts.
	HeartbeatTimeout time.Duration
	HeartbeatRetries int
	// Stall tunes the detection of a silently dead path from the tunnel's
	// traffic counters (a downlink that stopped, data sent and nothing
	// back): the node then probes at once with a heartbeat on a short
	// RTT-based timeout, retried once, and fails over if neither is
	// answered, instead of waiting for the keepalive schedule.
	Stall StallConfig
	// PathMTU tunes how long the node remembers each network's path MTU
	// (see PathMTU).
	PathMTU PathMTUConfig
	// ConnectTimeout bounds one connection attempt (default 5 s).
	ConnectTimeout time.Duration
	// Debounce is how long the node waits for a burst of network events
	// to settle (default 5 ms).
	Debounce time.Duration
	// SuspectFor is how long a link whose heartbeats went unanswered is
	// avoided before the node tries it again (default 20 s).
	SuspectFor time.Duration
	// Software is sent in Register (default "homeip-mnode").
	Software string
	// Logger; nil discards.
	Logger *slog.Logger
	// OnStatus, when set, is called with a snapshot after every change of
	// the node's status, from the goroutine that runs the node: it must
	// return quickly and must not call Down and wait for Run. mobile/
	// uses it to tell the app about state changes without polling.
	OnStatus func(Status)
}

func (c Config) withDefaults() (Config, error) {
	if c.StateDir == nil {
		return c, fmt.Errorf("client: config: no state directory: %w", ErrInvalid)
	}
	if c.NewDataPlane == nil {
		return c, fmt.Errorf("client: config: no data plane: %w", ErrInvalid)
	}
	if len(c.Preference) == 0 {
		c.Preference = DefaultPreference
	}
	if c.Lifetime <= 0 {
		c.Lifetime = 10 * time.Minute
	}
	if c.HeartbeatRetries <= 0 {
		c.HeartbeatRetries = 2
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.Debounce <= 0 {
		c.Debounce = 5 * time.Millisecond
	}
	if c.SuspectFor <= 0 {
		c.SuspectFor = 20 * time.Second
	}
	if c.Software == "" {
		c.Software = "homeip-mnode"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With("component", "client")
	return c, nil
}

// ErrRevoked is returned by Run when the home agent revoked the device.
var ErrRevoked = errors.New("client: the home agent revoked this device")

// Node is the mobile node: it keeps the tunnel to the home agent up and
// its binding current while the device moves. Create it with NewNode and
// run it with Run; Status and Down are safe to call from other goroutines
// (the control socket does).
type Node struct {
	cfg Config
	log *slog.Logger

	stopOnce sync.Once
	stop     chan struct{}

	mu     sync.Mutex
	status Status
}

// NewNode checks cfg and returns a node ready to Run.
func NewNode(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Node{
		cfg:    cfg,
		log:    cfg.Logger,
		stop:   make(chan struct{}),
		status: Status{State: "starting", TunnelInterface: cfg.TunnelName, Since: time.Now().UTC()},
	}, nil
}

// Status returns a snapshot of the node's status.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status
}

// Down asks Run to deregister and return. It does not wait.
func (n *Node) Down() {
	n.stopOnce.Do(func() { close(n.stop) })
}

// updateStatus changes the status under the lock.
func (n *Node) updateStatus(f func(*Status)) {
	n.mu.Lock()
	f(&n.status)
	st := n.status
	n.mu.Unlock()
	if n.cfg.OnStatus != nil {
		n.cfg.OnStatus(st)
	}
}

// Run brings the node up and keeps it up until ctx ends or Down is
// called; then it deregisters (best effort), closes the data plane and
// undoes the host configuration. It returns nil on a requested stop, and
// an error when the node cannot run: not enrolled, the data plane could
// not be created (no TUN device or permission), or the device was
// revoked.
func (n *Node) Run(ctx context.Context) error {
	// Down cancels whatever the node is waiting for (a connection attempt
	// to an unreachable home agent) at once.
	ctx, cancel := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		cancel()
		<-watchDone
	}()
	r, err := n.newRunner(ctx)
	if err != nil {
		if n.cfg.Host != nil {
			n.cfg.Host.Close()
		}
		return err
	}
	return r.loop()
}
