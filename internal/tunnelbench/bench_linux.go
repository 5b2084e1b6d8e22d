package tunnelbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/homeip/homeip/tunnel"
)

// Options tune a run. The zero value is useful.
type Options struct {
	// Duration of each measurement; 0 means 5 s.
	Duration time.Duration
	// Streams is the number of parallel TCP streams; 0 means 1.
	Streams int
	// Rounds repeats the stock and homeip measurements alternately and
	// averages them, to even out a noisy host; 0 means 1.
	Rounds int
	// Executable is the binary re-executed for the device children; it
	// must call ChildMain first thing. Empty means this process's own.
	Executable string
	// Logger receives progress; nil discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Duration == 0 {
		o.Duration = 5 * time.Second
	}
	if o.Streams == 0 {
		o.Streams = 1
	}
	if o.Rounds == 0 {
		o.Rounds = 1
	}
	if o.Duration < 0 || o.Streams < 0 || o.Rounds < 0 {
		return o, errors.New("tunnelbench: negative option")
	}
	if o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("tunnelbench: own executable: %w", err)
		}
		o.Executable = exe
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Logger = o.Logger.With("component", "tunnelbench")
	return o, nil
}

// Result is the throughput of each path, in Gbit/s.
type Result struct {
	Veth, Stock, HomeIP float64
	Duration            time.Duration
	Streams, Rounds     int
}

// HomeIPOverStock is homeip's throughput relative to stock wireguard-go
// (the goal is ≥ 0.95).
func (r Result) HomeIPOverStock() float64 { return ratio(r.HomeIP, r.Stock) }

// StockOverVeth is stock wireguard-go relative to the bare veth.
func (r Result) StockOverVeth() float64 { return ratio(r.Stock, r.Veth) }

// HomeIPOverVeth is homeip relative to the bare veth.
func (r Result) HomeIPOverVeth() float64 { return ratio(r.HomeIP, r.Veth) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// String prints the figures and ratios.
func (r Result) String() string {
	return fmt.Sprintf("TCP throughput, %d stream(s), %v x %d round(s):\n"+
		"  veth             %7.2f Gbit/s\n"+
		"  stock wireguard  %7.2f Gbit/s  (%.2f of veth)\n"+
		"  homeip tunnel    %7.2f Gbit/s  (%.2f of veth)\n"+
		"  homeip / stock   %7.3f\n",
		r.Streams, r.Duration, r.Rounds, r.Veth, r.Stock, r.StockOverVeth(), r.HomeIP, r.HomeIPOverVeth(), r.HomeIPOverStock())
}

// Inner addresses of the two WireGuard paths.
var (
	stockServer  = netip.MustParsePrefix("192.0.2.1/24")
	stockClient  = netip.MustParsePrefix("192.0.2.2/24")
	homeipServer = netip.MustParsePrefix("198.51.100.1/24")
	homeipClient = netip.MustParsePrefix("198.51.100.2/24")
	vethServer   = netip.MustParseAddr("198.18.0.1")
	vethClient   = netip.MustParseAddr("198.18.0.2")
)

// wgPort is the UDP port of both WireGuard devices in both namespaces.
const wgPort = 51820

// Run builds the two namespaces, measures the three paths and removes
// everything it created. It needs root.
func Run(ctx context.Context, opts Options) (Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	prefix, err := newPrefix()
	if err != nil {
		return Result{}, err
	}
	topo, err := buildTopology(ctx, prefix, 0)
	if err != nil {
		return Result{}, err
	}
	defer topo.remove()
	res := Result{Duration: opts.Duration, Streams: opts.Streams, Rounds: opts.Rounds}

	if res.Veth, err = measure(ctx, topo, vethServer, opts); err != nil {
		return res, fmt.Errorf("tunnelbench: veth: %w", err)
	}
	opts.Logger.Info("veth", "gbps", res.Veth)

	kS, err := tunnel.GeneratePrivateKey()
	if err != nil {
		return res, err
	}
	kC, err := tunnel.GeneratePrivateKey()
	if err != nil {
		return res, err
	}
	var stock, homeip float64
	for round := 0; round < opts.Rounds; round++ {
		for _, mode := range []string{modeStock, modeHomeIP} {
			g, err := measureWG(ctx, topo, mode, prefix, kS, kC, opts)
			if err != nil {
				return res, fmt.Errorf("tunnelbench: %s: %w", mode, err)
			}
			opts.Logger.Info(mode, "round", round, "gbps", g)
			if mode == modeStock {
				stock += g
			} else {
				homeip += g
			}
		}
	}
	res.Stock = stock / float64(opts.Rounds)
	res.HomeIP = homeip / float64(opts.Rounds)
	return res, nil
}

// measureWG brings up a WireGuard pair of the given mode (one child per
// namespace), measures through it and stops it.
func measureWG(ctx context.Context, topo *topology, mode, prefix string, kS, kC tunnel.Key, opts Options) (float64, error) {
	srvAddr, cliAddr := stockServer, stockClient
	if mode == modeHomeIP {
		srvAddr, cliAddr = homeipServer, homeipClient
	}
	srv, err := startChild(ctx, opts.Executable, topo.server, childSpec{
		Mode: mode, Iface: prefix + "s" + mode[:1], PrivateKey: kS, ListenPort: wgPort, Address: srvAddr,
		PeerKey: kC.PublicKey(), PeerAllowed: netip.PrefixFrom(cliAddr.Addr(), 32),
		PeerEndpoint: netip.AddrPortFrom(vethClient, wgPort),
	})
	if err != nil {
		return 0, err
	}
	defer srv.stop()
	cli, err := startChild(ctx, opts.Executable, topo.client, childSpec{
		Mode: mode, Iface: prefix + "c" + mode[:1], PrivateKey: kC, ListenPort: wgPort, Address: cliAddr,
		PeerKey: kS.PublicKey(), PeerAllowed: netip.PrefixFrom(srvAddr.Addr(), 32),
		PeerEndpoint: netip.AddrPortFrom(vethServer, wgPort),
	})
	if err != nil {
		return 0, err
	}
	defer cli.stop()
	return measure(ctx, topo, srvAddr.Addr(), opts)
}

// tcpPort is the port of the TCP sink.
const tcpPort = 5201

// measure sends TCP from the client namespace to dst in the server
// namespace for opts.Duration over opts.Streams streams and returns the
// received Gbit/s.
func measure(ctx context.Context, topo *topology, dst netip.Addr, opts Options) (float64, error) {
	var ln net.Listener
	if err := inNetns(topo.server, func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(dst, tcpPort).String())
		return err
	}); err != nil {
		return 0, err
	}
	defer ln.Close()

	var received atomic.Int64
	var sinks sync.WaitGroup
	sinkErr := make(chan error, opts.Streams)
	sinks.Add(1)
	go func() {
		defer sinks.Done()
		for i := 0; i < opts.Streams; i++ {
			c, err := ln.Accept()
			if err != nil {
				sinkErr <- err
				return
			}
			sinks.Add(1)
			go func() {
				defer sinks.Done()
				defer c.Close()
				buf := make([]byte, 256<<10)
				for {
					n, err := c.Read(buf)
					received.Add(int64(n))
					if err == io.EOF {
						return
					}
					if err != nil {
						sinkErr <- err
						return
					}
				}
			}()
		}
	}()

	conns := make([]net.Conn, 0, opts.Streams)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < opts.Streams; i++ {
		c, err := dialRetry(ctx, topo.client, netip.AddrPortFrom(dst, tcpPort))
		if err != nil {
			return 0, err
		}
		conns = append(conns, c)
	}

	start := time.Now()
	deadline := start.Add(opts.Duration)
	var senders sync.WaitGroup
	sendErr := make(chan error, opts.Streams)
	for _, c := range conns {
		senders.Add(1)
		go func() {
			defer senders.Done()
			buf := make([]byte, 128<<10)
			c.SetWriteDeadline(deadline)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if _, err := c.Write(buf); err != nil {
					if errors.Is(err, os.ErrDeadlineExceeded) {
						break
					}
					sendErr <- err
					return
				}
			}
			c.(*net.TCPConn).CloseWrite()
		}()
	}
	senders.Wait()
	done := make(chan struct{})
	go func() { sinks.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		ln.Close()
		return 0, errors.New("receiver did not finish")
	}
	elapsed := time.Since(start)
	select {
	case err := <-sendErr:
		return 0, fmt.Errorf("sending: %w", err)
	case err := <-sinkErr:
		return 0, fmt.Errorf("receiving: %w", err)
	default:
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return float64(received.Load()) * 8 / elapsed.Seconds() / 1e9, nil
}

// dialRetry connects from namespace ns to dst, retrying while the tunnel
// handshake completes (up to 15 s).
func dialRetry(ctx context.Context, ns string, dst netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	var last error
	for try := 0; try < 15; try++ {
		err := inNetns(ns, func() error {
			d := net.Dialer{Timeout: time.Second}
			var err error
			c, err = d.DialContext(ctx, "tcp", dst.String())
			return err
		})
		if err == nil {
			return c, nil
		}
		last = err
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("connecting to %v: %w", dst, last)
}
