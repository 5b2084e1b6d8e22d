package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/homeip/homeip/homeagent"
	"github.com/homeip/homeip/homeagent/config"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/bboltstore"
	"github.com/homeip/homeip/store/etcdstore"
	"github.com/homeip/homeip/tunnel"
)

// StoreFile is the bbolt file in the data directory.
const storeFile = "store.db"

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("ha serve", flag.ContinueOnError) }

func serve(args []string) int {
	fs := newFlagSet()
	cfgFile := fs.String("config", "", "TOML config file (see deploy/ha.example.toml)")
	applyFlags := config.Flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ha serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := loadConfig(*cfgFile, applyFlags)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ha:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if err := runServer(cfg, log); err != nil {
		log.Error("home agent failed", "err", err)
		return 1
	}
	return 0
}

// loadConfig layers defaults < file < environment < flags, fills in the
// default pools and validates.
func loadConfig(file string, applyFlags func(*config.Config) error) (config.Config, error) {
	var cfg config.Config
	if file != "" {
		if err := config.LoadFile(&cfg, file); err != nil {
			return cfg, err
		}
	}
	if err := config.ApplyEnv(&cfg, os.Environ()); err != nil {
		return cfg, err
	}
	if err := applyFlags(&cfg); err != nil {
		return cfg, err
	}
	cfg = cfg.WithDefaults()
	if len(cfg.Pool4) == 0 && len(cfg.Pool6) == 0 {
		p4, p6, err := config.DefaultPools(cfg.DataDir, nil)
		if err != nil {
			return cfg, err
		}
		cfg.Pool4, cfg.Pool6 = p4, p6
		cfg = cfg.WithDefaults()
	}
	if len(cfg.PublicAddrs) == 0 {
		cfg.PublicAddrs = detectPublicAddrs(cfg)
		cfg.PublicAddrsDetected = len(cfg.PublicAddrs) > 0
	}
	return cfg, cfg.Validate()
}

// detectPublicAddrs lists the host's global unicast addresses outside the
// pools, for the tokens of a home agent listening on every address without
// --public-addr: addresses reachable from other networks first, private
// ones after them (a device tries them in order).
func detectPublicAddrs(cfg config.Config) []netip.AddrPort {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := orderPublicAddrs(hostAddrs(ifaddrs, cfg))
	if len(out) > maxDetected {
		out = out[:maxDetected]
	}
	return out
}

// maxDetected bounds the detected addresses a token carries.
const maxDetected = 8

// orderPublicAddrs puts the addresses other networks can reach first,
// keeping the order within each kind.
func orderPublicAddrs(aps []netip.AddrPort) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(aps))
	for _, private := range []bool{false, true} {
		for _, ap := range aps {
			if config.PrivateAddr(ap.Addr()) == private {
				out = append(out, ap)
			}
		}
	}
	return out
}

// hostAddrs picks the usable addresses of the host's interface addresses.
func hostAddrs(ifaddrs []net.Addr, cfg config.Config) []netip.AddrPort {
	var out []netip.AddrPort
	for _, ia := range ifaddrs {
		pn, ok := ia.(*net.IPNet)
		if !ok {
			continue
		}
		a, ok := netip.AddrFromSlice(pn.IP)
		if !ok {
			continue
		}
		a = a.Unmap()
		if !a.IsGlobalUnicast() || inPools(a, cfg) {
			continue
		}
		out = append(out, netip.AddrPortFrom(a, cfg.Listen.Port()))
	}
	return out
}

func inPools(a netip.Addr, cfg config.Config) bool {
	for _, p := range append(append([]netip.Prefix{}, cfg.Pool4...), cfg.Pool6...) {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// openStore opens the bbolt file in the data directory, or the etcd
// store when the configuration names a cluster.
func openStore(cfg config.Config, log *slog.Logger) (store.Store, error) {
	if len(cfg.StoreEtcd) == 0 {
		return bboltstore.Open(filepath.Join(cfg.DataDir, storeFile), bboltstore.Options{Logger: log})
	}
	var tlsCfg *tls.Config
	if cfg.StoreEtcdTLS {
		var err error
		if tlsCfg, err = etcdstore.LoadTLS(cfg.StoreCA, cfg.StoreCert, cfg.StoreKey); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: cfg.StoreEtcd, Prefix: cfg.StorePrefix, TLS: tlsCfg, Logger: log})
	if err != nil {
		return nil, err
	}
	// The home agent indexes devices in memory at start: those another
	// home agent on the same prefix adds later are not seen until a
	// restart.
	log.Warn("store on etcd: devices added through another home agent sharing it are seen after a restart",
		"store", config.FormatStoreURL(cfg.StoreEtcd, cfg.StoreEtcdTLS, cfg.StorePrefix))
	return st, nil
}

func runServer(cfg config.Config, log *slog.Logger) error {
	id, err := homeagent.LoadIdentity(cfg.DataDir)
	if err != nil {
		return err
	}
	fmt.Printf("fingerprint %s\n", id.FingerprintString())
	log.Info("home agent identity", "fingerprint", id.FingerprintString(), "wg_public_key", id.WGKey.PublicKey().String())
	if len(cfg.PublicAddrs) == 0 {
		log.Warn("no public address known: enrolment tokens cannot be issued; pass --public-addr")
	}
	if w := cfg.PublicAddrsWarning(); w != "" {
		log.Warn("home agent unreachable from other networks? " + w)
		fmt.Fprintln(os.Stderr, "ha: warning:", w)
	}

	st, err := openStore(cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()

	var addrs, routes []netip.Prefix
	for _, pair := range []struct {
		tun   netip.Addr
		pools []netip.Prefix
	}{{cfg.Tunnel4, cfg.Pool4}, {cfg.Tunnel6, cfg.Pool6}} {
		for _, p := range pair.pools {
			if pair.tun.IsValid() && p.Contains(pair.tun) {
				addrs = append(addrs, netip.PrefixFrom(pair.tun, p.Bits()))
			} else {
				routes = append(routes, p)
			}
		}
	}
	dev, err := tunnel.New(tunnel.Config{
		InterfaceName: cfg.Interface,
		PrivateKey:    id.WGKey,
		ListenAddr:    cfg.Listen,
		MTU:           cfg.MTU,
		Addresses:     addrs,
		Routes:        routes,
		// Nodes learn their NAT's idle timeout on a second socket by
		// asking for delayed answers here.
		AnswerIdleProbes: true,
		Logger:           log,
	})
	if err != nil {
		return err
	}
	defer dev.Close()

	srv, err := homeagent.New(homeagent.Options{
		Config: cfg, Identity: id, Store: st, DataPlane: dev, ControlConn: dev.ControlConn(), Logger: log,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return srv.Run(ctx)
}
