package lease

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/homeip/homeip/pool"
	"github.com/homeip/homeip/store"
)

// UnreserveVIP removes device deviceID's reservation of addr: the store
// first, then the pool. The device keeps the address as an ordinary lease.
// An address the device has not reserved is an error wrapping
// store.ErrNotFound.
func UnreserveVIP(ctx context.Context, s store.Store, p *pool.Pool, deviceID string, addr netip.Addr) error {
	rs, err := s.Reservations(ctx, deviceID)
	if err != nil {
		return fmt.Errorf("lease: unreserving %v for %q: %w", addr, deviceID, err)
	}
	found := false
	for _, r := range rs {
		if r.Addr == addr {
			found = true
			break
		}
	}
	if !found {
		return fmt.Errorf("lease: unreserving %v for %q: not reserved by it: %w", addr, deviceID, store.ErrNotFound)
	}
	if err := s.Unreserve(ctx, deviceID, addr); err != nil {
		return fmt.Errorf("lease: unreserving %v for %q: %w", addr, deviceID, err)
	}
	p.Unreserve(deviceID, addr)
	return nil
}
