package lease

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/homeip/homeip/pool"
	"github.com/homeip/homeip/store"
)

// maxConflicts bounds how many proposals AssignVIPs tries per family
// before it gives up; each conflict teaches the pool about one holder it
// did not know of, which only happens when another writer (another home
// agent sharing the store) allocated concurrently.
const maxConflicts = 64

// AssignVIPs gives a device its sticky VIPs durably: for every family the
// pool serves, the device's existing lease if it has one, else the pool's
// proposal. The new leases of all families are committed in one
// transaction (store.Store.CommitLease), so a device gets all its VIPs or
// none. A conflict (another writer took an address meanwhile) is fed back
// to the pool with Hold or Reserve and the next proposal is tried. The
// pool learns every committed lease. It returns the device's leases, IPv4
// first.
//
// The home agent calls this on registration; it is safe to call
// concurrently for different devices and idempotent for one.
func AssignVIPs(ctx context.Context, s store.Store, p *pool.Pool, deviceID string, now time.Time) ([]store.Lease, error) {
	return assign(ctx, s, p, deviceID, now, 0)
}

func assign(ctx context.Context, s store.Store, p *pool.Pool, deviceID string, now time.Time, restarts int) ([]store.Lease, error) {
	// A device holding all its VIPs commits nothing, so the store would
	// not be asked about it: ask first whether it may have leases at all.
	d, err := s.Device(ctx, deviceID)
	if err != nil {
		return nil, fmt.Errorf("lease: assigning VIPs to %q: %w", deviceID, err)
	}
	if !d.Active() {
		return nil, fmt.Errorf("lease: assigning VIPs to %q: %w", deviceID, store.ErrRevoked)
	}
	have, err := s.Leases(ctx, deviceID)
	if err != nil {
		return nil, fmt.Errorf("lease: assigning VIPs to %q: %w", deviceID, err)
	}
	var out, want []store.Lease
	for _, fam := range p.Families() {
		if l, ok := leaseOfFamily(have, fam); ok {
			if err := p.Hold(deviceID, l.Addr); err != nil {
				return nil, fmt.Errorf("lease: assigning VIPs to %q: pool refuses its lease %v: %w", deviceID, l.Addr, err)
			}
			out = append(out, l)
			continue
		}
		addr, err := p.Propose(deviceID, fam)
		if err != nil {
			return nil, fmt.Errorf("lease: assigning IPv%d VIP to %q: %w", fam, deviceID, err)
		}
		want = append(want, store.Lease{DeviceID: deviceID, Addr: addr, Created: now})
	}
	if len(want) == 0 {
		return out, nil
	}
	for range maxConflicts {
		err := s.CommitLease(ctx, want...)
		var ce *store.ConflictError
		switch {
		case err == nil:
			for _, l := range want {
				if err := p.Hold(deviceID, l.Addr); err != nil {
					return nil, fmt.Errorf("lease: assigning VIPs to %q: pool refuses committed lease %v: %w", deviceID, l.Addr, err)
				}
			}
			out = append(out, want...)
			sortLeases(out)
			return out, nil
		case errors.As(err, &ce):
			if ce.Reserved {
				// Reserved for someone else: a reservation this pool
				// missed. Teach it and go on.
				_ = p.Reserve(ce.Holder, ce.Addr)
			} else if err := p.Hold(ce.Holder, ce.Addr); err != nil {
				return nil, fmt.Errorf("lease: assigning VIPs to %q: pool refuses conflicting lease %v of %q: %w", deviceID, ce.Addr, ce.Holder, err)
			}
			for i, l := range want {
				if l.Addr != ce.Addr {
					continue
				}
				fam := pool.FamilyOf(l.Addr)
				addr, err := p.Propose(deviceID, fam)
				if err != nil {
					return nil, fmt.Errorf("lease: assigning IPv%d VIP to %q: %w", fam, deviceID, err)
				}
				if addr == ce.Addr {
					return nil, fmt.Errorf("lease: assigning VIPs to %q: pool proposes %v again after the conflict: %w", deviceID, addr, store.ErrAddrInUse)
				}
				want[i].Addr = addr
			}
		case errors.Is(err, store.ErrHasLease):
			// Another writer gave this device leases meanwhile: start
			// over with what the store holds now.
			if restarts >= 3 {
				return nil, fmt.Errorf("lease: assigning VIPs to %q: %w", deviceID, err)
			}
			return assign(ctx, s, p, deviceID, now, restarts+1)
		default:
			return nil, fmt.Errorf("lease: assigning VIPs to %q: %w", deviceID, err)
		}
	}
	return nil, fmt.Errorf("lease: assigning VIPs to %q: %w: still conflicting after %d proposals", deviceID, store.ErrAddrInUse, maxConflicts)
}

func leaseOfFamily(ls []store.Lease, fam pool.Family) (store.Lease, bool) {
	for _, l := range ls {
		if pool.FamilyOf(l.Addr) == fam {
			return l, true
		}
	}
	return store.Lease{}, false
}

// sortLeases orders a device's leases IPv4 first.
func sortLeases(ls []store.Lease) {
	slices.SortFunc(ls, func(a, b store.Lease) int { return int(pool.FamilyOf(a.Addr)) - int(pool.FamilyOf(b.Addr)) })
}

// ReserveVIP pins a device to addr: the pool checks the address (inside a
// prefix, not excluded, not someone else's), the store commits it (moving
// the device's lease of that family), and the pool records the outcome.
func ReserveVIP(ctx context.Context, s store.Store, p *pool.Pool, deviceID string, addr netip.Addr, now time.Time) error {
	if err := p.CheckReservation(deviceID, addr); err != nil {
		return fmt.Errorf("lease: reserving %v for %q: %w", addr, deviceID, err)
	}
	moved, err := s.Reserve(ctx, store.Reservation{DeviceID: deviceID, Addr: addr, Created: now})
	if err != nil {
		return fmt.Errorf("lease: reserving %v for %q: %w", addr, deviceID, err)
	}
	if err := p.Reserve(deviceID, addr); err != nil {
		return fmt.Errorf("lease: reserving %v for %q: committed, but the pool refuses: %w", addr, deviceID, err)
	}
	for _, q := range moved {
		p.Quarantine(q.DeviceID, q.Addr, q.Released)
	}
	return nil
}

// RemoveDevice deletes a device from the store and releases its addresses
// in the pool (into quarantine).
func RemoveDevice(ctx context.Context, s store.Store, p *pool.Pool, deviceID string, now time.Time) error {
	released, err := s.DeleteDevice(ctx, deviceID, now)
	if err != nil {
		return fmt.Errorf("lease: removing device %q: %w", deviceID, err)
	}
	p.ForgetDevice(deviceID, now)
	for _, q := range released {
		p.Quarantine(q.DeviceID, q.Addr, q.Released)
	}
	return nil
}

// LoadError lists the records a pool refused while loading, typically
// leases outside every configured prefix after a config change made while
// the home agent was down.
type LoadError struct {
	Refused []store.Lease // leases and reservations the pool refused
	First   error         // the pool's first complaint
}

func (e *LoadError) Error() string {
	ids := ""
	for i, l := range e.Refused {
		if i == 8 {
			ids += fmt.Sprintf(" and %d more", len(e.Refused)-i)
			break
		}
		ids += fmt.Sprintf(" %s(%v)", l.DeviceID, l.Addr)
	}
	return fmt.Sprintf("lease: pool refuses %d stored addresses:%s: %v", len(e.Refused), ids, e.First)
}

// Unwrap returns the pool's first complaint.
func (e *LoadError) Unwrap() error { return e.First }

// LoadPool fills a fresh pool from the store: every lease, reservation and
// quarantine record. It sizes the pool first (Grow). When the store is a
// store.LeaseGrouper, leases are loaded device by device (HoldDevice),
// which saves a device lookup and a record decode per lease. Records the
// pool refuses are collected into a *LoadError (returned after the whole
// walk) so the operator sees every affected device at once.
func LoadPool(ctx context.Context, s store.Store, p *pool.Pool) error {
	c, err := s.Counts(ctx)
	if err != nil {
		return fmt.Errorf("lease: loading pool: %w", err)
	}
	p.Grow(c.Devices, c.Leases+c.Reservations+c.Quarantined)
	le := &LoadError{}
	refuse := func(deviceID string, a netip.Addr, err error) {
		le.Refused = append(le.Refused, store.Lease{DeviceID: deviceID, Addr: a})
		if le.First == nil {
			le.First = err
		}
	}
	v := store.Visitor{
		Lease: func(l store.Lease) error {
			if err := p.Hold(l.DeviceID, l.Addr); err != nil {
				refuse(l.DeviceID, l.Addr, err)
			}
			return nil
		},
		Reservation: func(r store.Reservation) error {
			if err := p.Reserve(r.DeviceID, r.Addr); err != nil {
				refuse(r.DeviceID, r.Addr, err)
			}
			return nil
		},
		Quarantined: func(q store.Quarantined) error {
			p.Quarantine(q.DeviceID, q.Addr, q.Released)
			return nil
		},
	}
	if g, ok := s.(store.LeaseGrouper); ok {
		err = g.WalkGrouped(ctx, func(deviceID string, addrs []netip.Addr) error {
			if p.HoldDevice(deviceID, addrs...) == nil {
				return nil
			}
			// Find out which addresses were refused: holding the
			// accepted ones again changes nothing.
			for _, a := range addrs {
				if err := p.Hold(deviceID, a); err != nil {
					refuse(deviceID, a, err)
				}
			}
			return nil
		}, v)
	} else {
		err = s.Walk(ctx, v)
	}
	if err != nil {
		return fmt.Errorf("lease: loading pool: %w", err)
	}
	if len(le.Refused) > 0 {
		return le
	}
	return nil
}
