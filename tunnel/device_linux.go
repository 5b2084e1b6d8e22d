package tunnel

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// errorBurst is how many wireguard-go error lines are logged per second.
const errorBurst = 10

// Device is the WireGuard data plane on Linux (and Android): a
// wireguard-go device on wireguard-go's own TUN (virtio-net-header
// offloads on) whose UDP socket is shared with the QUIC control channel
// (ControlConn). It implements DataPlane and is safe for concurrent use.
type Device struct {
	log   *slog.Logger
	name  string
	tun   tun.Device
	mtuf  *mtuFilter // wraps tun: what wireguard-go reads and writes
	wg    *device.Device
	bind  *sharedBind
	m     *demux
	ctrl  *controlConn
	netns *os.File
	uapi  *uapiServer         // nil when not serving UAPI
	probe *idleProbeResponder // nil unless Config.AnswerIdleProbes

	mu     sync.Mutex  // serialises configuration and Close
	closed bool        // guarded by mu
	mtu    int         // interface MTU
	routes *peerRoutes // allowed prefixes and SetPeerMTU values, guarded by mu
	roam   *roamGuard  // endpoints named by re-points and retired ones, guarded by mu

	// The goroutine that applies EMSGSIZE hints (followSizeHints).
	hintStop     chan struct{}
	hintDone     chan struct{}
	hintStopOnce sync.Once
}

var _ DataPlane = (*Device)(nil)

// New creates the TUN interface (or adopts cfg.TUNFD), configures its
// addresses, MTU and routes, opens the shared UDP socket and starts the
// WireGuard device with no peers. The TUN and the socket belong to the
// network namespace of the calling thread. On error nothing is left behind.
func New(cfg Config) (*Device, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Device{log: cfg.Logger, m: newDemux(), mtu: cfg.MTU, routes: newPeerRoutes(cfg.MTU), roam: newRoamGuard(RetireHold)}
	ok := false
	defer func() {
		if !ok {
			d.teardown()
		}
	}()

	// Remember the namespace so that a Rebind from any thread reopens the
	// socket here. A sandbox (Android) may not let us open it; sockets are
	// then opened in the namespace of the calling thread, which there is
	// the only one.
	if d.netns, err = os.Open("/proc/thread-self/ns/net"); err != nil {
		d.log.Debug("network namespace not pinned", "err", err)
		d.netns = nil
	}

	if cfg.TUNFD > 0 {
		t, name, err := tun.CreateUnmonitoredTUNFromFD(cfg.TUNFD)
		if err != nil {
			return nil, fmt.Errorf("tunnel: adopting TUN fd %d: %w", cfg.TUNFD, err)
		}
		d.tun, d.name = t, name
	} else {
		t, err := tun.CreateTUN(cfg.InterfaceName, cfg.MTU)
		if err != nil {
			return nil, fmt.Errorf("tunnel: creating TUN %s: %w", cfg.InterfaceName, err)
		}
		d.tun = t
		if d.name, err = t.Name(); err != nil {
			return nil, fmt.Errorf("tunnel: TUN name: %w", err)
		}
		if err := configureLink(cfg.Netlink, d.name, LinkConfig{MTU: cfg.MTU, Addresses: cfg.Addresses, Routes: cfg.Routes}); err != nil {
			return nil, err
		}
	}
	d.log = d.log.With("iface", d.name)

	d.bind = newSharedBind(cfg.ListenAddr.Addr(), cfg.SocketHook, d.netns, d.m, d.log)
	d.hintStop, d.hintDone = make(chan struct{}), make(chan struct{})
	go d.followSizeHints(d.hintStop, d.hintDone)
	if cfg.AnswerIdleProbes {
		d.probe = newIdleProbeResponder(cfg.IdleProbeLimits, d.bind.sendControl, d.log)
		d.m.probe = d.probe.handle
	}
	d.ctrl = newControlConn(d.m, d.bind)
	d.ctrl.routeSource = cfg.RouteControlSource
	d.mtuf = newMTUFilter(d.tun, d.log)
	d.wg = device.NewDevice(d.mtuf, d.bind, wgLogger(d.log))
	if err := d.wg.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=%d\n", cfg.PrivateKey.hex(), cfg.ListenAddr.Port())); err != nil {
		return nil, fmt.Errorf("tunnel: configuring device: %w", err)
	}
	if err := d.wg.Up(); err != nil {
		return nil, fmt.Errorf("tunnel: bringing device up: %w", err)
	}
	if d.bind.localPort() == 0 {
		return nil, fmt.Errorf("tunnel: opening UDP port %d failed", cfg.ListenAddr.Port())
	}

	d.uapi, err = listenUAPI(d.name, d.wg, d.log)
	if err != nil {
		if cfg.TUNFD <= 0 {
			return nil, err
		}
		// A mobile OS sandbox has no /var/run/wireguard; the data plane
		// works without it.
		d.log.Info("no UAPI socket", "err", err)
	}
	d.log.Info("data plane up", "port", d.bind.localPort())
	ok = true
	return d, nil
}

// wgLogger bridges wireguard-go's printf logger to slog: verbose lines at
// Debug (formatted only when Debug is enabled), errors at Error, at most
// errorBurst per second since some are per packet.
func wgLogger(log *slog.Logger) *device.Logger {
	debug := log.Enabled(context.Background(), slog.LevelDebug)
	var (
		mu         sync.Mutex
		window     time.Time
		n, dropped int
	)
	l := &device.Logger{
		Verbosef: device.DiscardLogf,
		Errorf: func(format string, args ...any) {
			mu.Lock()
			now := time.Now()
			if now.Sub(window) >= time.Second {
				if dropped > 0 {
					log.Error("wireguard-go errors suppressed", "count", dropped)
				}
				window, n, dropped = now, 0, 0
			}
			n++
			if n > errorBurst {
				dropped++
				mu.Unlock()
				return
			}
			mu.Unlock()
			log.Error(fmt.Sprintf(format, args...), "source", "wireguard-go")
		},
	}
	if debug {
		l.Verbosef = func(format string, args ...any) {
			log.Debug(fmt.Sprintf(format, args...), "source", "wireguard-go")
		}
	}
	return l
}

// ControlConn is the QUIC side of the shared socket: hand it to
// quic.Transport{Conn: d.ControlConn()}. It receives the QUIC datagrams
// that arrive on the WireGuard port and sends through the same socket
// (and so through the same NAT mapping), also across Rebind. Replies leave
// from the local address the remote last sent to. Closing it does not
// affect WireGuard; Close of the Device closes it.
func (d *Device) ControlConn() net.PacketConn { return d.ctrl }

// LocalPort is the UDP port of the shared socket.
func (d *Device) LocalPort() uint16 { return d.bind.localPort() }

// InterfaceName is the name of the TUN interface.
func (d *Device) InterfaceName() string { return d.name }

// DemuxStats returns the demultiplexer's counters.
func (d *Device) DemuxStats() DemuxStats { return d.m.stats() }

// SendStats returns the counters of datagrams the shared socket found too
// big for the route (EMSGSIZE) and how they were handled.
func (d *Device) SendStats() SendStats { return d.bind.sendStats() }

// MTUStats returns the counters of the per-peer MTU filter (SetPeerMTU).
func (d *Device) MTUStats() MTUStats { return d.mtuf.stats() }

// RetiredStats returns the counters of retired endpoints: how many
// re-points retired one, and how many late datagrams from them were kept
// from moving their peer back.
func (d *Device) RetiredStats() RetiredStats {
	d.mu.Lock()
	n := d.roam.count
	d.mu.Unlock()
	return RetiredStats{Retired: n, Held: d.bind.held.Load()}
}

// Activity receives a value after WireGuard datagrams were received or
// sent since the last value was taken (signals are coalesced: one
// pending at most). A mobile node waits on it while its tunnel is idle
// instead of polling the peer counters. It is never closed.
func (d *Device) Activity() <-chan struct{} { return d.m.activity }

// IdleProbeStats counts the idle probes the Device answered and refused
// (all zero unless Config.AnswerIdleProbes).
func (d *Device) IdleProbeStats() IdleProbeStats {
	if d.probe == nil {
		return IdleProbeStats{}
	}
	return d.probe.snapshot()
}

// SetPeer implements DataPlane.
func (d *Device) SetPeer(p Peer) error {
	if err := p.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("tunnel: set peer: %w", net.ErrClosed)
	}
	if err := d.wg.IpcSet(peerUAPI(p)); err != nil {
		return fmt.Errorf("tunnel: set peer %s: %w", p.PublicKey, err)
	}
	if d.routes.setAllowed(p.PublicKey, p.AllowedIPs) {
		d.mtuf.setTable(d.routes.table())
	}
	if p.Endpoint.IsValid() {
		if peer := d.wg.LookupPeer(device.NoisePublicKey(p.PublicKey)); peer != nil {
			d.repointedLocked(peer, p.PublicKey, p.Endpoint, netip.Addr{})
		}
	}
	return nil
}

// RemovePeer implements DataPlane.
func (d *Device) RemovePeer(pub Key) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("tunnel: remove peer: %w", net.ErrClosed)
	}
	if d.wg.LookupPeer(device.NoisePublicKey(pub)) == nil {
		return fmt.Errorf("tunnel: remove peer %s: %w", pub, ErrUnknownPeer)
	}
	d.wg.RemovePeer(device.NoisePublicKey(pub))
	if d.routes.remove(pub) {
		d.mtuf.setTable(d.routes.table())
	}
	d.roam.forget(pub)
	d.bind.retired.Store(d.roam.table(time.Now()))
	return nil
}

// SetPeerMTU implements DataPlane.
func (d *Device) SetPeerMTU(pub Key, mtu int) error {
	if err := checkPeerMTU(mtu, d.mtu); err != nil {
		return fmt.Errorf("tunnel: set path MTU of %s: %w", pub, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("tunnel: set path MTU: %w", net.ErrClosed)
	}
	if d.wg.LookupPeer(device.NoisePublicKey(pub)) == nil {
		return fmt.Errorf("tunnel: set path MTU of %s: %w", pub, ErrUnknownPeer)
	}
	d.routes.setMTU(pub, mtu)
	d.mtuf.setTable(d.routes.table())
	return nil
}

// SetEndpoint implements DataPlane.
func (d *Device) SetEndpoint(pub Key, ep netip.AddrPort) error {
	return d.SetEndpointFrom(pub, ep, netip.Addr{})
}

// repointedLocked completes the re-point of peer pub to ep, which UAPI
// has already set, in two ways.
//
// It gives the endpoint the local address that ep's control datagrams
// last arrived on, so that WireGuard replies leave from the address the
// device sent to, as the control replies already do. A home agent is
// re-pointed from a binding update received over QUIC; without this, the
// endpoint set through UAPI has no source and the kernel picks one by
// route, which on a host with several addresses (a published address on
// lo, one per uplink) is the wrong one and the device's NAT drops the
// replies. Nothing changes when no control datagram came from ep, or when
// the device routes its control source (Config.RouteControlSource, a
// mobile node).
//
// And it retires the endpoint the previous re-point named, if that was
// another address, and publishes the retired endpoints to the Bind, so
// that datagrams still in flight from there do not move the peer back
// (retire.go).
//
// src, if valid, is the local address to leave from instead of the
// control datagrams' (SetEndpointFrom).
func (d *Device) repointedLocked(peer *device.Peer, pub Key, ep netip.AddrPort, src netip.Addr) {
	if !src.IsValid() {
		src = d.ctrl.sourceFor(ep)
	}
	e := newEndpoint(ep, src, 0)
	if src.IsValid() {
		peer.SetEndpointFromPacket(e)
	}
	now := time.Now()
	if old := d.roam.repoint(pub, e, now); old.IsValid() {
		d.log.Debug("endpoint retired", "peer", pub, "retired", old, "endpoint", e.dst, "for", d.roam.hold)
	}
	d.bind.retired.Store(d.roam.table(now))
}

// ControlSource returns the local address the latest control datagram
// from ep arrived on (the address the device sent to), or the zero Addr
// when none came or the Device routes its control source.
func (d *Device) ControlSource(ep netip.AddrPort) netip.Addr { return d.ctrl.sourceFor(ep) }

// SetEndpointFrom re-points the peer as SetEndpoint does, its packets
// leaving from the local address src instead of the one the control
// datagrams from ep arrived on: a home agent restoring a binding after a
// restart, before any control datagram has arrived, answers from the
// address the device sent to. A zero src is SetEndpoint.
func (d *Device) SetEndpointFrom(pub Key, ep netip.AddrPort, src netip.Addr) error {
	if err := CheckEndpoint(ep); err != nil {
		return fmt.Errorf("tunnel: set endpoint of %s: %w", pub, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("tunnel: set endpoint: %w", net.ErrClosed)
	}
	peer := d.wg.LookupPeer(device.NoisePublicKey(pub))
	if peer == nil {
		return fmt.Errorf("tunnel: set endpoint of %s: %w", pub, ErrUnknownPeer)
	}
	if err := d.wg.IpcSet(endpointUAPI(pub, ep)); err != nil {
		return fmt.Errorf("tunnel: set endpoint of %s: %w", pub, err)
	}
	d.repointedLocked(peer, pub, ep, src.Unmap())
	return nil
}

// Peers implements DataPlane.
func (d *Device) Peers() ([]PeerStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("tunnel: peers: %w", net.ErrClosed)
	}
	s, err := d.wg.IpcGet()
	if err != nil {
		return nil, fmt.Errorf("tunnel: reading peers: %w", err)
	}
	ps, err := parsePeersUAPI(s)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		ps[i].MTU = d.routes.mtus[ps[i].PublicKey]
	}
	return ps, nil
}

// Rebind implements DataPlane: wireguard-go's BindUpdate (close and reopen
// the socket on the same port, in the Device's namespace) clears every
// peer's cached source address.
func (d *Device) Rebind() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("tunnel: rebind: %w", net.ErrClosed)
	}
	if err := d.wg.BindUpdate(); err != nil {
		return fmt.Errorf("tunnel: rebind: %w", err)
	}
	d.ctrl.forgetSources()
	d.roam.clearSources()
	d.bind.retired.Store(d.roam.table(time.Now()))
	return nil
}

// stopSizeHints stops the goroutine that applies EMSGSIZE hints, if New
// started it, and waits for it. Idempotent; mu must not be held.
func (d *Device) stopSizeHints() {
	d.hintStopOnce.Do(func() {
		if d.hintStop != nil {
			close(d.hintStop)
			<-d.hintDone
		}
	})
}

// Close implements DataPlane.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	// The hint goroutine takes mu: stop it before holding mu again.
	d.stopSizeHints()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.teardown()
	d.log.Info("data plane closed")
	return nil
}

// teardown releases whatever New got as far as creating.
func (d *Device) teardown() {
	d.stopSizeHints()
	if d.probe != nil {
		d.probe.close()
	}
	if d.uapi != nil {
		d.uapi.close()
	}
	if d.ctrl != nil {
		d.ctrl.Close()
	}
	if d.wg != nil {
		d.wg.Close() // closes the TUN and the bind, waits for its routines
	} else if d.tun != nil {
		d.tun.Close()
	}
	if d.bind != nil {
		d.bind.closeForGood()
	}
	d.m.close()
	if d.netns != nil {
		d.netns.Close()
	}
}
