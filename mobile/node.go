package mobile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/tunnel"
)

// Node is a running mobile node: the tunnel to the home agent on the TUN
// the app handed over. Create it with Start; tell it about the OS's
// networks with NetworkChanged (or UpdateNetwork and RemoveNetwork); end
// it with Stop. Its methods are safe for concurrent use.
type Node struct {
	node  *client.Node
	watch *client.PushWatcher
	cb    Callbacks
	log   *slog.Logger

	mu   sync.Mutex // guards nets, and orders the states published to watch
	nets *networks

	cancel   context.CancelFunc
	stopOnce sync.Once
	runDone  chan struct{} // closed when the client node's Run returned
	runErr   error         // written before runDone is closed

	smu         sync.Mutex // guards latest
	latest      client.Status
	sig         chan struct{} // one pending signal: latest changed
	deliverDone chan struct{}
}

// dataPlaneFunc creates the data plane; tunnel.New in production, a fake
// in tests.
type dataPlaneFunc func(tunnel.Config) (client.DataPlane, error)

func newTunnel(c tunnel.Config) (client.DataPlane, error) {
	d, err := tunnel.New(c)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Start brings the node up on the TUN the OS created with the app's
// TunnelSettings: tunFD is its descriptor (Android:
// ParcelFileDescriptor.getFd() of VpnService.Builder.establish(); iOS: the
// packet flow's utun descriptor). Start duplicates the descriptor, so the
// app keeps and eventually closes its own; the node closes its copy when
// it stops. The tunnel's UDP socket is opened here and passed to
// cb.Protect first, so call Start on a thread that may do network I/O.
//
// The node then runs by itself: it registers with the home agent as soon
// as the app announces a network (NetworkChanged), follows every change,
// reconnects when the home agent is away, and reports through cb (nil:
// no callbacks; sockets are then not protected). opts may be nil.
//
// Errors carry CodeInvalid, CodeNotEnrolled, CodeBusy (a node already
// runs on stateDir), CodeTunnel (the descriptor is not a usable TUN) or
// CodeInternal.
func Start(stateDir string, tunFD int, opts *Options, cb Callbacks) (*Node, error) {
	return start(stateDir, tunFD, opts, cb, newTunnel)
}

func start(stateDir string, tunFD int, opts *Options, cb Callbacks, newDP dataPlaneFunc) (*Node, error) {
	if cb == nil {
		cb = noCallbacks{}
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	pref, err := o.checked()
	if err != nil {
		return nil, err
	}
	if tunFD <= 0 {
		return nil, coded(CodeInvalid, fmt.Errorf("TUN descriptor %d: want the descriptor of an established TUN", tunFD))
	}
	n := &Node{
		watch:       client.NewPushWatcher(),
		cb:          cb,
		log:         slog.New(newCallbackHandler(cb, slog.Level(o.LogLevel))),
		nets:        newNetworks(),
		runDone:     make(chan struct{}),
		sig:         make(chan struct{}, 1),
		deliverDone: make(chan struct{}),
	}
	n.nets.pref = pref
	dir, err := client.OpenStateDir(stateDir)
	if err != nil {
		return nil, classify(err)
	}
	st, err := dir.Load()
	if err != nil {
		return nil, classify(err)
	}
	key, err := dir.WireGuardKey(false)
	if err != nil {
		return nil, classify(err)
	}
	// Refuse at once, not from the node's goroutine later, when another
	// node holds the directory.
	unlock, err := dir.Lock()
	if err != nil {
		return nil, coded(CodeBusy, err)
	}
	unlock()

	mtu := 0
	if st.Config != nil {
		mtu = st.Config.MTU
	}
	fd, err := dupFD(tunFD)
	if err != nil {
		return nil, err
	}
	dp, err := newDP(tunnel.Config{
		TUNFD:      fd,
		PrivateKey: tunnel.Key(key),
		ListenAddr: netip.AddrPortFrom(netip.Addr{}, uint16(o.ListenPort)),
		MTU:        mtu,
		SocketHook: n.protect,
		// The node steers its path by the OS's routing; a sticky source
		// from the previous network must not pin the control side.
		RouteControlSource: true,
		Logger:             n.log,
	})
	if err != nil {
		// The data plane took the descriptor over as soon as it wrapped
		// it in a file; it closes it on failure (or the file's finalizer
		// does). Closing it here as well could close a reused number.
		return nil, coded(CodeTunnel, fmt.Errorf("starting the data plane on TUN descriptor %d: %w", tunFD, err))
	}
	tunName := ""
	if nm, ok := dp.(interface{ InterfaceName() string }); ok {
		tunName = nm.InterfaceName()
	}
	var handed atomic.Bool
	node, err := client.NewNode(client.Config{
		StateDir: dir,
		NewDataPlane: func(c client.DataPlaneConfig) (client.DataPlane, error) {
			if !handed.CompareAndSwap(false, true) {
				return nil, errors.New("mobile: the data plane was already handed to the node")
			}
			return dp, nil
		},
		Watcher:    n.watch,
		TunnelName: tunName,
		Preference: clientPreference,
		FullTunnel: o.FullTunnel,
		ListenPort: uint16(o.ListenPort),
		Software:   "homeip-mobile",
		Logger:     n.log,
		OnStatus:   n.onStatus,
	})
	if err != nil {
		dp.Close()
		return nil, classify(err)
	}
	n.node = node
	n.latest = node.Status()
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go n.deliver()
	go func() {
		err := node.Run(ctx)
		if !handed.Load() {
			dp.Close()
		}
		if err != nil {
			n.log.Error("node stopped", "err", err)
		}
		n.runErr = classify(err)
		close(n.runDone)
	}()
	n.log.Info("mobile node started", "tun", tunName, "full_tunnel", o.FullTunnel, "prefer", pref.String())
	return n, nil
}

// protect is the data plane's SocketHook.
func (n *Node) protect(fd int) error {
	if n.cb.Protect(fd) {
		return nil
	}
	return fmt.Errorf("mobile: the app refused to protect socket %d", fd)
}

// publishLocked hands the current networks to the node. n.mu is held.
func (n *Node) publishLocked() {
	n.watch.Set(n.nets.state())
}

// stopped reports whether the node has stopped.
func (n *Node) stopped() bool {
	select {
	case <-n.runDone:
		return true
	default:
		return false
	}
}

// started reports whether n came from Start: gobind gives apps a
// constructor for every struct, and a Node made with it must fail
// cleanly instead of crashing the app.
func (n *Node) started() bool { return n != nil && n.node != nil }

var errNotStarted = coded(CodeInvalid, errors.New("this Node was not made by Start"))

func (n *Node) errIfStopped() error {
	if !n.started() {
		return errNotStarted
	}
	if n.stopped() {
		return coded(CodeStopped, errors.New("the node has stopped"))
	}
	return nil
}

// NetworkChanged tells the node that the OS's default network is now the
// interface ifName of the given kind ("wifi", "cellular" or "wired"), or
// that there is none (kind "none"): call it from the OS's connectivity
// callback (Android ConnectivityManager default-network callback, iOS
// NWPathMonitor). It replaces every network announced before. The
// interface's addresses are read from the OS; where an app may not do
// that (Android 11 and later), use NetworkChangedAddrs. When the network
// is a new path, the node moves the tunnel to it at once (make before
// break) and updates its binding at the home agent.
func (n *Node) NetworkChanged(kind, ifName string) error {
	if kind == KindNone {
		return n.networkChanged(kind, ifName, nil)
	}
	if ifName == "" {
		return coded(CodeInvalid, errors.New("no interface name"))
	}
	addrs, err := lookupAddrs(ifName)
	if err != nil {
		return err
	}
	return n.networkChanged(kind, ifName, addrs)
}

// NetworkChangedAddrs is NetworkChanged with the interface's addresses as
// the OS reported them to the app (Android LinkProperties.getLinkAddresses):
// comma-separated, with or without prefix length
// ("198.51.100.7/24,2001:db8::7/64").
func (n *Node) NetworkChangedAddrs(kind, ifName, addrs string) error {
	if kind == KindNone {
		return n.networkChanged(kind, ifName, nil)
	}
	as, err := parseAddrs(addrs)
	if err != nil {
		return err
	}
	return n.networkChanged(kind, ifName, as)
}

func (n *Node) networkChanged(kind, ifName string, addrs []netip.Prefix) error {
	if err := n.errIfStopped(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if kind == KindNone {
		n.nets.set(nil)
		n.log.Info("no network")
		n.publishLocked()
		return nil
	}
	k, err := parseKind(kind)
	if err != nil {
		return err
	}
	if ifName == "" {
		return coded(CodeInvalid, errors.New("no interface name"))
	}
	n.nets.set(&network{name: ifName, kind: k, addrs: addrs})
	n.log.Info("default network changed", "interface", ifName, "kind", k.String(), "addrs", addrs)
	n.publishLocked()
	return nil
}

// UpdateNetwork adds a network, or replaces the one with the same
// interface name, keeping the others: for apps that track every usable
// network (Android registerNetworkCallback), so that the node can keep a
// standby path registered and choose by preference. addrs is as for
// NetworkChangedAddrs; empty reads them from the OS.
func (n *Node) UpdateNetwork(kind, ifName, addrs string) error {
	if err := n.errIfStopped(); err != nil {
		return err
	}
	k, err := parseKind(kind)
	if err != nil {
		return err
	}
	if ifName == "" {
		return coded(CodeInvalid, errors.New("no interface name"))
	}
	var as []netip.Prefix
	if addrs == "" {
		as, err = lookupAddrs(ifName)
	} else {
		as, err = parseAddrs(addrs)
	}
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nets.update(network{name: ifName, kind: k, addrs: as})
	n.log.Info("network updated", "interface", ifName, "kind", k.String(), "addrs", as)
	n.publishLocked()
	return nil
}

// RemoveNetwork forgets a network the OS lost. Removing one that is not
// known is not an error.
func (n *Node) RemoveNetwork(ifName string) error {
	if err := n.errIfStopped(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nets.remove(ifName) {
		n.log.Info("network lost", "interface", ifName)
		n.publishLocked()
	}
	return nil
}

// SetPreferred makes kind ("wifi", "cellular" or "wired") the most
// preferred kind of network; the order of the others stays. When several
// networks are known, the node moves to the preferred one.
func (n *Node) SetPreferred(kind string) error {
	if err := n.errIfStopped(); err != nil {
		return err
	}
	k, err := parseKind(kind)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nets.prefer(k)
	n.log.Info("preference changed", "prefer", n.nets.pref.String())
	n.publishLocked()
	return nil
}

// Preferred returns the order of preference, most preferred first
// ("cellular,wired,wifi").
func (n *Node) Preferred() string {
	if !n.started() {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nets.pref.String()
}

// currentStatus is the node's status, "stopped" once it has.
func (n *Node) currentStatus() client.Status {
	if !n.started() {
		return client.Status{State: "stopped", LastError: errNotStarted.Error()}
	}
	st := n.node.Status()
	if n.stopped() {
		st.State = "stopped"
		if n.runErr != nil {
			st.LastError = n.runErr.Error()
		}
	}
	return st
}

// Status returns the node's status as JSON, the object `mnode status
// --json` prints (state, vip4, vip6, interface, interface_kind, care_of,
// rtt_ms, handovers, last_handover_ms, ...).
func (n *Node) Status() string { return statusJSON(n.currentStatus()) }

// StatusInfo returns the node's status as a struct.
func (n *Node) StatusInfo() *Status { return statusFrom(n.currentStatus()) }

// State returns the node's state alone (see Status.State).
func (n *Node) State() string { return n.currentStatus().State }

// Err returns why the node stopped by itself (CodeRevoked when the
// administrator revoked the device, CodeNotEnrolled, CodeTunnel), or nil
// while it runs and after a Stop.
func (n *Node) Err() error {
	if !n.started() {
		return errNotStarted
	}
	if !n.stopped() {
		return nil
	}
	return n.runErr
}

// Stop aborts a connection attempt under way, deregisters from the home
// agent (waiting at most a second for its answer), closes the tunnel's socket and the node's copy of the TUN
// descriptor, and returns when every goroutine of the node has ended and
// the last StateChanged ("stopped") has returned. Idempotent. Do not call
// it from a callback.
func (n *Node) Stop() {
	if !n.started() {
		return
	}
	n.stopOnce.Do(func() {
		n.node.Down()
		// Also abort a connection attempt under way; the node still
		// deregisters, on a context of its own.
		n.cancel()
	})
	<-n.runDone
	<-n.deliverDone
}

// onStatus is client.Config.OnStatus: it keeps the latest status and
// wakes deliver without blocking the node.
func (n *Node) onStatus(s client.Status) {
	n.smu.Lock()
	n.latest = s
	n.smu.Unlock()
	select {
	case n.sig <- struct{}{}:
	default:
	}
}

// deliver calls Callbacks.StateChanged, in order, for every status change
// worth telling the app, and "stopped" last. It is the node's goroutine,
// ended by the end of Run.
func (n *Node) deliver() {
	defer close(n.deliverDone)
	var last client.Status
	first := true
	report := func(st client.Status) {
		if first || notable(last, st) {
			n.cb.StateChanged(st.State, statusJSON(st))
			last, first = st, false
		}
	}
	for {
		select {
		case <-n.sig:
			n.smu.Lock()
			st := n.latest
			n.smu.Unlock()
			report(st)
		case <-n.runDone:
			n.smu.Lock()
			st := n.latest
			n.smu.Unlock()
			st.State = "stopped"
			if n.runErr != nil {
				st.LastError = n.runErr.Error()
			}
			n.cb.StateChanged(st.State, statusJSON(st))
			return
		}
	}
}

// notable reports whether the app should hear about the change from a to
// b: a new state, path, address or error; not RTT or keepalive updates.
func notable(a, b client.Status) bool {
	return a.State != b.State || a.Interface != b.Interface || a.Standby != b.Standby ||
		a.VIP4 != b.VIP4 || a.VIP6 != b.VIP6 || a.CareOf != b.CareOf ||
		a.Handovers != b.Handovers || a.Reconnects != b.Reconnects || a.LastError != b.LastError
}

// noCallbacks is used when the app passes none.
type noCallbacks struct{}

func (noCallbacks) StateChanged(string, string) {}
func (noCallbacks) Log(int, string)             {}
func (noCallbacks) Protect(int) bool            { return true }
