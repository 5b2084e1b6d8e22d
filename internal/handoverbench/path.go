package handoverbench

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/homeip/homeip/internal/netlab"
)

// Path names, as Config.Paths and the table spell them.
const (
	PathHomeIP    = "homeip"
	PathWireGuard = "wireguard"
	PathNone      = "none"
)

// AllPaths are the paths the benchmark compares by default.
var AllPaths = []string{PathHomeIP, PathWireGuard, PathNone}

// path is one data path deployed in a lab.
type path interface {
	// source is the address the node's stream end binds to.
	source() netip.Addr
	// settle waits until the path is ready for a move of kind k, after
	// k.Prepare.
	settle(ctx context.Context, k Kind) error
	// handoverMS is how long the node itself says its last handover
	// took, NaN where there is no such figure.
	handoverMS(ctx context.Context) float64
	Close() error
}

// deploy brings the named path up in lab.
func deploy(ctx context.Context, name string, lab *netlab.Lab, cfg Config, dir string) (path, error) {
	switch name {
	case PathHomeIP:
		h, err := StartHomeIP(ctx, lab, HomeIPOptions{Bin: cfg.Bin, Dir: dir, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		return homeipPath{h: h, pause: cfg.Settle}, nil
	case PathWireGuard:
		w, err := StartWireGuard(ctx, lab, cfg.Bin, dir)
		if err != nil {
			return nil, err
		}
		return staticPath{src: WGNode4, pause: cfg.Settle, close: w.Close}, nil
	case PathNone:
		return staticPath{pause: cfg.Settle, close: func() error { return nil }}, nil
	}
	return nil, fmt.Errorf("handoverbench: unknown path %q (want %v)", name, AllPaths)
}

// settleLimit bounds the wait for a homeip node to settle on the link a
// move starts from. It exceeds the 20 s for which mnode avoids a link
// whose heartbeats went unanswered (after a kind 3 move).
const settleLimit = 40 * time.Second

// homeipPath settles by waiting for the node to report its primary path
// on the link the move starts from.
type homeipPath struct {
	h     *HomeIP
	pause time.Duration
}

func (p homeipPath) source() netip.Addr { return p.h.VIP4 }

func (p homeipPath) settle(ctx context.Context, k Kind) error {
	want, standby := k.StartIface(), k.StartStandby()
	what := "primary on " + want
	if standby != "" {
		what += ", standby on " + standby
	}
	_, err := p.h.WaitStatus(ctx, settleLimit, what, func(s NodeStatus) bool {
		return s.State == "registered" && s.Interface == want && (standby == "" || s.Standby == standby)
	})
	if err != nil {
		return err
	}
	return sleep(ctx, p.pause)
}

func (p homeipPath) handoverMS(ctx context.Context) float64 {
	st, err := p.h.Status(ctx)
	if err != nil {
		return math.NaN()
	}
	return st.LastHandoverMs
}

func (p homeipPath) Close() error { return p.h.Close() }

// staticPath has nothing to wait for but the pause.
type staticPath struct {
	src   netip.Addr
	pause time.Duration
	close func() error
}

func (p staticPath) source() netip.Addr                       { return p.src }
func (p staticPath) settle(ctx context.Context, _ Kind) error { return sleep(ctx, p.pause) }
func (p staticPath) handoverMS(context.Context) float64       { return math.NaN() }
func (p staticPath) Close() error                             { return p.close() }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
