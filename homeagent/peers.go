package homeagent

import (
	"errors"
	"net/netip"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/tunnel"
)

// setPeerLocked materialises device d's WireGuard peer: AllowedIPs exactly
// its VIPs, endpoint ep (zero: keep the current one, or none yet). A live
// peer of an older key of the device goes first. ds.mu must be held.
func (s *Server) setPeerLocked(ds *devState, d devInfo, ep netip.AddrPort) error {
	if !ds.peer.IsZero() && ds.peer != d.wg {
		s.removePeerLocked(ds, d, "key replaced")
	}
	p := tunnel.Peer{PublicKey: d.wg, AllowedIPs: d.allowedIPs(), Endpoint: ep}
	if err := s.dp.SetPeer(p); err != nil {
		s.log.Error("setting peer failed", "device", d.name, "err", err)
		return err
	}
	if ds.peer.IsZero() {
		s.livePeerCount.Add(1)
	}
	ds.peer = d.wg
	return nil
}

// removePeerLocked retires device d's live peer, if it has one; the lease
// stays. ds.mu must be held.
func (s *Server) removePeerLocked(ds *devState, d devInfo, why string) {
	if ds.peer.IsZero() {
		return
	}
	err := s.dp.RemovePeer(ds.peer)
	if err != nil && !errors.Is(err, tunnel.ErrUnknownPeer) {
		s.log.Error("removing peer failed", "device", d.name, "err", err)
		return
	}
	ds.peer = tunnel.Key{}
	s.livePeerCount.Add(-1)
	s.log.Debug("peer retired", "device", d.name, "reason", why)
}

// removeAllPeers retires every live peer (at shutdown).
func (s *Server) removeAllPeers() {
	s.mu.Lock()
	all := make([]*devState, 0, len(s.devs))
	for _, ds := range s.devs {
		all = append(all, ds)
	}
	s.mu.Unlock()
	for _, ds := range all {
		ds.mu.Lock()
		if !ds.peer.IsZero() {
			if err := s.dp.RemovePeer(ds.peer); err != nil && !errors.Is(err, tunnel.ErrUnknownPeer) {
				s.log.Warn("removing peer at shutdown failed", "err", err)
			}
			ds.peer = tunnel.Key{}
			s.livePeerCount.Add(-1)
		}
		ds.mu.Unlock()
	}
}

func (s *Server) livePeers() int { return int(s.livePeerCount.Load()) }

// applyEventLocked applies one change of the device's binding to the data
// plane; the binding cache returned it and has released its locks.
// ds.mu must be held, and must have been held since the cache call that
// returned ev (ApplyInto, Remove), so that the device's events are applied
// in the order they happened; expiry events go through expireLocked.
func (s *Server) applyEventLocked(ds *devState, ev binding.Event) {
	d, ok := s.idx.byIDCopy(ev.Device)
	if !ok {
		return
	}
	s.keeper.mark(ev.Device)
	switch ev.Kind {
	case binding.EventAdded:
		s.clearPendingLocked(ds)
		ds.since, ds.lastHandover = ev.Time, time.Time{}
		s.setPeerLocked(ds, d, ev.Endpoint)
		s.log.Info("binding added", "device", d.name, "care_of", ev.Endpoint, "seq", ev.Sequence)
	case binding.EventMoved, binding.EventPrimaryChanged:
		var err error
		if ds.peer == d.wg {
			err = s.dp.SetEndpoint(d.wg, ev.Endpoint)
		}
		if ds.peer != d.wg || errors.Is(err, tunnel.ErrUnknownPeer) {
			err = s.setPeerLocked(ds, d, ev.Endpoint)
		}
		if err != nil {
			s.log.Error("re-pointing peer failed", "device", d.name, "err", err)
		}
		ds.lastHandover = ev.Time
		s.log.Info("device moved", "device", d.name, "from", ev.Previous, "to", ev.Endpoint,
			"kind", ev.Kind.String(), "bid", ev.PrimaryBID, "seq", ev.Sequence)
	case binding.EventExpired, binding.EventRemoved:
		ds.since, ds.lastHandover = time.Time{}, time.Time{}
		if !d.static {
			s.removePeerLocked(ds, d, ev.Kind.String())
		}
		if ev.Kind == binding.EventExpired {
			s.log.Info("binding expired", "device", d.name, "last_care_of", ev.Previous)
		} else {
			s.log.Info("binding removed", "device", d.name)
		}
	}
}

// expireLocked applies the expiry of the device's binding at now, which
// the cache reported before ds.mu was taken. It is stale when the device
// has a binding again (an update came in between and re-pointed the peer);
// a registration made since keeps the peer until it lapses itself.
func (s *Server) expireLocked(ds *devState, ev binding.Event, now time.Time) {
	if _, bound := s.cache.Lookup(ev.Device); bound {
		return
	}
	if !ds.pending.IsZero() && now.Before(ds.pending) {
		ds.since, ds.lastHandover = time.Time{}, time.Time{}
		s.log.Info("binding expired; the registration since keeps the peer", "device", ev.Device, "last_care_of", ev.Previous)
		return
	}
	s.applyEventLocked(ds, ev)
}

// expireBindings expires the binding cache at now and retires the peers.
func (s *Server) expireBindings(now time.Time, evs []binding.Event) []binding.Event {
	evs = s.cache.Expire(now, evs[:0])
	for _, ev := range evs {
		ds := s.devState(ev.Device)
		ds.mu.Lock()
		s.expireLocked(ds, ev, now)
		ds.mu.Unlock()
	}
	clear(evs)
	return evs
}
