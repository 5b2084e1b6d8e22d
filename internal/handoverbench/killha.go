package handoverbench

import (
	"context"
	"fmt"
	"syscall"
)

// KillHA kills ha with SIGKILL, as a crash or an OOM kill would, and
// waits until it has exited: nothing of its shutdown runs, so whatever it
// had not written yet is lost. StartHA starts it again.
func (h *HomeIP) KillHA(ctx context.Context) error {
	h.mu.Lock()
	p := h.ha
	h.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("handoverbench: killing ha: %w", err)
	}
	select {
	case <-p.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("handoverbench: waiting for ha to die: %w", ctx.Err())
	}
}
