package streamprobe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"
)

// Endpoint says how one end of a probe reaches the other and what it
// does. Exactly one of Listen and Connect is set.
type Endpoint struct {
	Role Role
	// Network is "tcp", "tcp4", "tcp6", "udp", "udp4" or "udp6".
	Network string
	// Listen is the local address to accept the one peer on.
	Listen string
	// Connect is the remote address to dial.
	Connect string
}

func (e Endpoint) validate() error {
	if e.Role != RoleSend && e.Role != RoleRecv {
		return fmt.Errorf("%w: role %q, want send or recv", ErrConfig, e.Role)
	}
	switch e.Network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return fmt.Errorf("%w: network %q", ErrConfig, e.Network)
	}
	if (e.Listen == "") == (e.Connect == "") {
		return fmt.Errorf("%w: set exactly one of listen and connect", ErrConfig)
	}
	return nil
}

// Run sets up the connection described by ep (accepting one TCP peer, or
// dialling) and runs Send or Receive on it. Over UDP a dialing receiver
// says hello so a listening sender learns its address.
func Run(ctx context.Context, ep Endpoint, cfg Config) (*Report, error) {
	if err := ep.validate(); err != nil {
		return nil, err
	}
	if _, err := cfg.populate(); err != nil {
		return nil, err
	}
	conn, err := Connect(ctx, ep)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if ep.Role == RoleSend {
		return Send(ctx, conn, cfg)
	}
	if ep.Connect != "" && strings.HasPrefix(ep.Network, "udp") {
		cfg.SayHello = true
	}
	return Receive(ctx, conn, cfg)
}

// Connect establishes ep's connection: a dialled conn (a refused TCP dial
// is retried until ctx ends, so the ends may start in any order), the one accepted
// TCP conn (the listener is closed after it), or a NewPeerConn over a UDP
// listener.
func Connect(ctx context.Context, ep Endpoint) (net.Conn, error) {
	if err := ep.validate(); err != nil {
		return nil, err
	}
	udp := strings.HasPrefix(ep.Network, "udp")
	if ep.Connect != "" {
		return dialRetry(ctx, ep.Network, ep.Connect)
	}
	var lc net.ListenConfig
	if udp {
		pc, err := lc.ListenPacket(ctx, ep.Network, ep.Listen)
		if err != nil {
			return nil, fmt.Errorf("streamprobe: listening on %s: %w", ep.Listen, err)
		}
		return NewPeerConn(pc), nil
	}
	ln, err := lc.Listen(ctx, ep.Network, ep.Listen)
	if err != nil {
		return nil, fmt.Errorf("streamprobe: listening on %s: %w", ep.Listen, err)
	}
	return Accept(ctx, ln)
}

// dialRetryEvery is how often Connect retries a refused TCP dial.
const dialRetryEvery = 50 * time.Millisecond

// dialRetry dials, retrying while the peer refuses (it may not be
// listening yet) until ctx ends.
func dialRetry(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("streamprobe: dialing %s: %w", addr, err)
		}
		t := time.NewTimer(dialRetryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("streamprobe: dialing %s: %w (last: %w)", addr, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// Accept accepts one connection on ln, or fails when ctx ends, and closes
// ln either way.
func Accept(ctx context.Context, ln net.Listener) (net.Conn, error) {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	c, err := ln.Accept()
	ln.Close()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("streamprobe: accepting on %s: %w", ln.Addr(), err)
	}
	return c, nil
}
