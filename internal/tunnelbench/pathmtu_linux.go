package tunnelbench

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/homeip/homeip/tunnel"
)

// PathLinkMTU is the link MTU of the narrow path RunPathMTU measures: a
// cellular link of IPv6's minimum.
const PathLinkMTU = 1280

// PathMTUResult compares two homeip tunnels over a path of PathLinkMTU:
// one with the default interface MTU that was told the path's limit with
// SetPeerMTU (what the home agent and the node do once they learnt it),
// and one whose interface MTU was set by hand to fit the path.
type PathMTUResult struct {
	// Learned and Manual are the throughputs in Gbit/s.
	Learned, Manual float64
	// PeerMTU is the value given to SetPeerMTU; ManualMTU the interface
	// MTU of the hand-configured tunnel.
	PeerMTU, ManualMTU int
	Duration           time.Duration
	Streams, Rounds    int
}

// LearnedOverManual is the learned per-peer MTU's throughput relative to
// the hand-set interface MTU (the goal is ≥ 0.80).
func (r PathMTUResult) LearnedOverManual() float64 { return ratio(r.Learned, r.Manual) }

// String prints the figures and the ratio.
func (r PathMTUResult) String() string {
	return fmt.Sprintf("TCP throughput over a %d-byte path, %d stream(s), %v x %d round(s):\n"+
		"  interface MTU %d set by hand   %7.2f Gbit/s\n"+
		"  SetPeerMTU(%d), interface %d  %7.2f Gbit/s\n"+
		"  learned / by hand              %7.3f\n",
		PathLinkMTU, r.Streams, r.Duration, r.Rounds,
		r.ManualMTU, r.Manual, r.PeerMTU, tunnel.DefaultMTU, r.Learned, r.LearnedOverManual())
}

// Modes of RunPathMTU.
const (
	pathLearned = "learned"
	pathManual  = "manual"
)

// RunPathMTU builds the two namespaces joined by a veth of PathLinkMTU,
// measures both tunnels (alternately, opts.Rounds times) and removes
// everything it created. It needs root.
func RunPathMTU(ctx context.Context, opts Options) (PathMTUResult, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return PathMTUResult{}, err
	}
	prefix, err := newPrefix()
	if err != nil {
		return PathMTUResult{}, err
	}
	topo, err := buildTopology(ctx, prefix, PathLinkMTU)
	if err != nil {
		return PathMTUResult{}, err
	}
	defer topo.remove()
	fit := tunnel.InnerMTU(PathLinkMTU - 20 - 8) // IPv4 and UDP headers
	res := PathMTUResult{PeerMTU: fit, ManualMTU: fit, Duration: opts.Duration, Streams: opts.Streams, Rounds: opts.Rounds}

	kS, err := tunnel.GeneratePrivateKey()
	if err != nil {
		return res, err
	}
	kC, err := tunnel.GeneratePrivateKey()
	if err != nil {
		return res, err
	}
	var learned, manual float64
	for round := 0; round < opts.Rounds; round++ {
		for _, mode := range []string{pathManual, pathLearned} {
			base := childSpec{Mode: modeHomeIP, PrivateKey: kS, ListenPort: wgPort}
			if mode == pathManual {
				base.LinkMTU = fit
			} else {
				base.PeerMTU = fit
			}
			g, err := measurePath(ctx, topo, prefix, mode, base, kS, kC, opts)
			if err != nil {
				return res, fmt.Errorf("tunnelbench: %s: %w", mode, err)
			}
			opts.Logger.Info("path MTU", "mode", mode, "round", round, "gbps", g)
			if mode == pathManual {
				manual += g
			} else {
				learned += g
			}
		}
	}
	res.Learned = learned / float64(opts.Rounds)
	res.Manual = manual / float64(opts.Rounds)
	return res, nil
}

// measurePath brings up a homeip pair configured as base says and
// measures through it.
func measurePath(ctx context.Context, topo *topology, prefix, mode string, base childSpec, kS, kC tunnel.Key, opts Options) (float64, error) {
	srv := base
	srv.Iface = prefix + "s" + mode[:1]
	srv.PrivateKey, srv.Address = kS, homeipServer
	srv.PeerKey, srv.PeerAllowed = kC.PublicKey(), netip.PrefixFrom(homeipClient.Addr(), 32)
	srv.PeerEndpoint = netip.AddrPortFrom(vethClient, wgPort)
	s, err := startChild(ctx, opts.Executable, topo.server, srv)
	if err != nil {
		return 0, err
	}
	defer s.stop()
	cli := base
	cli.Iface = prefix + "c" + mode[:1]
	cli.PrivateKey, cli.Address = kC, homeipClient
	cli.PeerKey, cli.PeerAllowed = kS.PublicKey(), netip.PrefixFrom(homeipServer.Addr(), 32)
	cli.PeerEndpoint = netip.AddrPortFrom(vethServer, wgPort)
	c, err := startChild(ctx, opts.Executable, topo.client, cli)
	if err != nil {
		return 0, err
	}
	defer c.stop()
	return measure(ctx, topo, homeipServer.Addr(), opts)
}
