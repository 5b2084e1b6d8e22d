package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/client/controlapi"
	"github.com/homeip/homeip/client/netmon"
	"github.com/homeip/homeip/tunnel"
)

func cmdUp(args []string) error {
	fset := flag.NewFlagSet("mnode up", flag.ContinueOnError)
	stateDir := fset.String("state-dir", defaultStateDir, "state directory (keys, enrolment, last configuration)")
	iface := fset.String("interface", "homeip0", "name of the TUN interface to create")
	fullTunnel := fset.Bool("full-tunnel", false, "send all traffic through the tunnel (the home agent stays reachable outside it)")
	prefer := fset.String("prefer", client.DefaultPreference.String(), "interface kinds in order of preference")
	listenPort := fset.Uint("listen-port", 0, "local UDP port of the shared WireGuard/QUIC socket (0 = random)")
	statusSocket := fset.String("status-socket", "", "control socket for mnode status/down (default STATE-DIR/mnode.sock)")
	writeResolv := fset.Bool("write-resolv-conf", false, "write the home agent's DNS servers to /etc/resolv.conf while up (restored on exit)")
	logLevel := fset.String("log-level", "info", "log level: debug, info, warn, error")
	kaMin := fset.Duration("keepalive-min", 0, "shortest keepalive interval the NAT timeout learner may use (default 10s)")
	kaMax := fset.Duration("keepalive-max", 0, "longest keepalive interval (default 5m); an idle path that died silently is noticed within about this long")
	stallFloor := fset.Duration("stall-floor", 0, "shortest quiet time of flowing traffic after which the path is probed at once (default 250ms; the threshold is 4 path RTTs when longer)")
	noStall := fset.Bool("no-stall-detect", false, "do not probe the path when flowing traffic stalls (a silently dead path is then noticed by the keepalive schedule only)")
	pos, err := parseArgs(fset, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("up: unexpected argument %q", pos[0])}
	}
	pref, err := client.ParsePreference(*prefer)
	if err != nil {
		return usageError{"up: --prefer: " + err.Error()}
	}
	if *listenPort > 65535 {
		return usageError{fmt.Sprintf("up: --listen-port %d out of range", *listenPort)}
	}
	if *iface == "" || len(*iface) > 15 {
		return usageError{fmt.Sprintf("up: --interface %q must be 1-15 characters", *iface)}
	}
	if *kaMin < 0 || *kaMax < 0 || (*kaMax > 0 && *kaMin > *kaMax) {
		return usageError{fmt.Sprintf("up: --keepalive-min %v / --keepalive-max %v: want 0 <= min <= max", *kaMin, *kaMax)}
	}
	if *stallFloor < 0 {
		return usageError{fmt.Sprintf("up: --stall-floor %v: want >= 0", *stallFloor)}
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	dir, err := client.OpenStateDir(*stateDir)
	if err != nil {
		return err
	}
	if _, err := dir.Load(); err != nil {
		return err
	}
	sock := *statusSocket
	if sock == "" {
		sock = dir.SocketPath()
	}

	nl, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()
	watcher, err := netmon.New(netmon.Config{Handle: nl, Exclude: []string{*iface}, Logger: log})
	if err != nil {
		return err
	}
	defer watcher.Close()
	host, err := netmon.NewHost(netmon.HostConfig{Handle: nl, Interface: *iface, WriteResolvConf: *writeResolv, Logger: log})
	if err != nil {
		return err
	}
	node, err := client.NewNode(client.Config{
		StateDir:   dir,
		Watcher:    watcher,
		Host:       host,
		TunnelName: *iface,
		Preference: pref,
		FullTunnel: *fullTunnel,
		ListenPort: uint16(*listenPort),
		Keepalive:  client.KeepaliveConfig{Min: *kaMin, Max: *kaMax},
		Stall:      client.StallConfig{Disable: *noStall, Floor: *stallFloor},
		Logger:     log,
		NewDataPlane: func(c client.DataPlaneConfig) (client.DataPlane, error) {
			d, err := tunnel.New(tunnel.Config{
				InterfaceName: *iface,
				PrivateKey:    c.PrivateKey,
				ListenAddr:    netip.AddrPortFrom(netip.Addr{}, c.ListenPort),
				MTU:           c.MTU,
				Netlink:       nl,
				Logger:        log,
				// The node steers its path with routes (netmon pins the
				// home agent to the chosen link), so the kernel picks the
				// control side's source address, never a stale one from
				// the previous link.
				RouteControlSource: true,
			})
			if err != nil {
				return nil, explainTUNError(*iface, err)
			}
			return d, nil
		},
	})
	if err != nil {
		return err
	}
	ln, err := controlapi.Listen(sock)
	if err != nil {
		return err
	}
	srv := controlapi.NewServer(ln, node, log)
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve() }()
	defer func() {
		srv.Close()
		<-srvDone
	}()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Info("mnode up", "state_dir", dir.Path(), "interface", *iface, "full_tunnel", *fullTunnel, "prefer", pref.String(), "status_socket", sock)
	err = node.Run(ctx)
	if err == nil {
		log.Info("mnode stopped")
	}
	return err
}

// explainTUNError turns the usual TUN failures into advice.
func explainTUNError(iface string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV):
		return fmt.Errorf("cannot create TUN interface %s: no TUN device (/dev/net/tun missing; load the tun module: modprobe tun): %w", iface, err)
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot create TUN interface %s: permission denied (run as root or with CAP_NET_ADMIN): %w", iface, err)
	case errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EEXIST):
		return fmt.Errorf("cannot create TUN interface %s: it is in use (another mnode?): %w", iface, err)
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("cannot open the UDP port: already in use (--listen-port): %w", err)
	}
	return err
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level)}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
