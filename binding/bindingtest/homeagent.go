// Package bindingtest provides a fake home agent that speaks the binding
// control protocol over any stream (net.Pipe, a loopback connection, a
// QUIC stream), so the mobile node's control logic can be tested without
// QUIC, TLS or the real home agent. It answers Enroll, Register,
// BindingUpdate (through a real binding.Cache), Heartbeat and Deregister,
// records what it received, and can push Switch or Deregister to the
// device.
package bindingtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/homeip/homeip/binding"
)

// HomeAgent is a scripted home agent for one device. Set the fields before
// Serve; they are read while serving. It is safe for concurrent use.
type HomeAgent struct {
	// Device names the device in the cache (default "device").
	Device string
	// Secret, if non-nil, is the only enrolment secret accepted, and only
	// once; nil accepts any secret.
	Secret *[binding.SecretSize]byte
	// EnrollAck answers a successful Enroll (Status is set by the fake).
	EnrollAck binding.EnrollAck
	// RegisterAck answers Register as given (zero Status = accepted).
	RegisterAck binding.RegisterAck
	// Cache applies binding updates; nil means a cache with default
	// configuration, created on first use.
	Cache *binding.Cache
	// Observed returns the source address the fake pretends to see
	// updates and heartbeats come from (default 192.0.2.1:51830).
	Observed func() netip.AddrPort
	// Now is the clock for the cache (default time.Now).
	Now func() time.Time

	mu       sync.Mutex
	w        io.Writer // current stream, for Push; guarded by mu
	received []binding.Message
	redeemed bool
}

func (h *HomeAgent) defaults() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Device == "" {
		h.Device = "device"
	}
	if h.Cache == nil {
		h.Cache = binding.NewCache(binding.Config{})
	}
	if h.Observed == nil {
		h.Observed = func() netip.AddrPort { return netip.MustParseAddrPort("192.0.2.1:51830") }
	}
	if h.Now == nil {
		h.Now = time.Now
	}
}

// Received returns the messages received so far, in order.
func (h *HomeAgent) Received() []binding.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]binding.Message(nil), h.received...)
}

// Push sends a home-agent-initiated message (Switch, Deregister,
// Heartbeat) on the stream being served.
func (h *HomeAgent) Push(m binding.Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w == nil {
		return errors.New("bindingtest: push: not serving")
	}
	return binding.WriteMessage(h.w, m)
}

func (h *HomeAgent) send(m binding.Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return binding.WriteMessage(h.w, m)
}

// Serve answers messages read from rw until the device deregisters (nil),
// the stream ends (nil on a clean EOF) or ctx is done (ctx.Err()). When
// ctx ends, rw is closed if it is an io.Closer, to unblock the read.
func (h *HomeAgent) Serve(ctx context.Context, rw io.ReadWriter) error {
	h.defaults()
	h.mu.Lock()
	h.w = rw
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.w = nil
		h.mu.Unlock()
	}()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	if c, ok := rw.(io.Closer); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				c.Close()
			case <-stop:
			}
		}()
	}
	defer wg.Wait()
	defer close(stop)

	r := binding.NewReader(rw, 0)
	for {
		m, err := r.ReadMessage()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, binding.ErrUnknownType), errors.Is(err, binding.ErrMalformed):
			continue
		case err != nil:
			return fmt.Errorf("bindingtest: serving: %w", err)
		}
		h.mu.Lock()
		h.received = append(h.received, m)
		h.mu.Unlock()
		done, err := h.handle(m)
		if err != nil || done {
			return err
		}
	}
}

func (h *HomeAgent) handle(m binding.Message) (done bool, err error) {
	switch m := m.(type) {
	case *binding.Enroll:
		ack := h.EnrollAck
		h.mu.Lock()
		ok := h.Secret == nil || (*h.Secret == m.Token && !h.redeemed)
		if ok && h.Secret != nil {
			h.redeemed = true
		}
		h.mu.Unlock()
		if ok {
			ack.Status = binding.StatusAccepted
		} else {
			ack = binding.EnrollAck{Status: binding.StatusBadToken}
		}
		return false, h.send(&ack)
	case *binding.Register:
		ack := h.RegisterAck
		return false, h.send(&ack)
	case *binding.BindingUpdate:
		ack, err := h.Cache.Apply(h.Now(), h.Device, m, h.Observed())
		if err != nil || m.Flags&binding.FlagAck != 0 {
			return false, h.send(&ack)
		}
		return false, nil
	case *binding.Heartbeat:
		return false, h.send(&binding.HeartbeatAck{Nonce: m.Nonce, Time: m.Time, Observed: h.Observed()})
	case *binding.Deregister:
		h.Cache.Remove(h.Now(), h.Device)
		return true, h.send(&binding.BindingAck{Status: binding.StatusAccepted})
	}
	return false, nil
}
