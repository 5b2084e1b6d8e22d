package homeagent

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/homeagent/adminapi"
	"github.com/homeip/homeip/homeagent/lease"
)

// purgeEvery is how often the sweep forgets quarantine records whose time
// is up (the pool frees those addresses by itself at the same moment; the
// records only keep the quarantine across restarts).
const purgeEvery = time.Minute

// DeleteDevice implements adminapi.Backend. The device is cut off first,
// exactly as by a revocation (binding removed, peer gone, connections
// ended), then its record, keys, tokens and reservations leave the store
// in one transaction and its addresses go into quarantine: nobody gets
// them until the configured quarantine is over, so traffic still on its
// way to the old device never reaches a new one.
func (s *Server) DeleteDevice(name string) (adminapi.DeleteResult, error) {
	d, err := s.device(name)
	if err != nil {
		return adminapi.DeleteResult{}, err
	}
	ds := s.devState(d.id)
	ds.mu.Lock()
	// Look again under the device lock: a concurrent delete or rename
	// may have won.
	d, ok := s.idx.byIDCopy(d.id)
	if !ok {
		ds.mu.Unlock()
		return adminapi.DeleteResult{}, fmt.Errorf("%w: no device %q", adminapi.ErrNotFound, name)
	}
	view := s.view(d)
	now := s.now()
	if err := lease.RemoveDevice(s.adminCtx(), s.st, s.pool, d.id, now); err != nil {
		ds.mu.Unlock()
		return adminapi.DeleteResult{}, mapStoreErr(err)
	}
	if ev, ok := s.cache.Remove(now, d.id); ok {
		s.applyEventLocked(ds, ev)
	}
	s.removePeerLocked(ds, d, "deleted")
	s.clearPendingLocked(ds)
	s.idx.remove(d.id)
	s.mu.Lock()
	var victims []*session
	for ss := range s.conns {
		if ss.device == d.id || string(ss.ikey) == d.ikey && d.ikey != "" {
			victims = append(victims, ss)
		}
	}
	delete(s.sessions, d.id)
	delete(s.devs, d.id) // device ids are never reused: nothing will look it up again
	s.mu.Unlock()
	ds.mu.Unlock()
	for _, ss := range victims {
		ss.endWith(&binding.Deregister{Status: binding.StatusRevoked, Reason: "deleted by the administrator"}, codeRevoked, revokeGrace)
	}
	res := adminapi.DeleteResult{Device: view}
	for _, a := range []netip.Addr{d.vip4, d.vip6} {
		if a.IsValid() {
			res.Quarantined = append(res.Quarantined, a)
		}
	}
	if len(res.Quarantined) > 0 {
		res.Until = now.Add(s.cfg.Quarantine)
	}
	s.log.Info("device deleted", "device", d.name, "id", d.id, "quarantined", res.Quarantined, "until", res.Until,
		"connections_closed", len(victims))
	return res, nil
}

// UnreserveAddr implements adminapi.Backend: the device keeps addr as an
// ordinary lease, nothing else changes (no reconnection needed).
func (s *Server) UnreserveAddr(name string, addr netip.Addr) (adminapi.Device, error) {
	d, err := s.device(name)
	if err != nil {
		return adminapi.Device{}, err
	}
	if !addr.IsValid() {
		return adminapi.Device{}, fmt.Errorf("%w: no address", adminapi.ErrInvalid)
	}
	ds := s.devState(d.id)
	ds.mu.Lock()
	err = lease.UnreserveVIP(s.adminCtx(), s.st, s.pool, d.id, addr.Unmap())
	ds.mu.Unlock()
	if err != nil {
		return adminapi.Device{}, mapStoreErr(err)
	}
	s.log.Info("reservation removed", "device", d.name, "addr", addr)
	if d, ok := s.idx.byIDCopy(d.id); ok {
		return s.view(d), nil
	}
	return adminapi.Device{}, fmt.Errorf("%w: no device %q", adminapi.ErrNotFound, name)
}

// purgeQuarantine forgets the store's quarantine records that are over.
func (s *Server) purgeQuarantine(ctx context.Context, now time.Time) {
	n, err := s.st.PurgeQuarantine(ctx, now.Add(-s.cfg.Quarantine))
	switch {
	case err != nil:
		s.log.Warn("purging the address quarantine", "err", err)
	case n > 0:
		s.log.Info("quarantine over: addresses free again", "addresses", n)
	}
}
