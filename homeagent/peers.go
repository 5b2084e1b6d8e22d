package homeagent

import (
	"errors"
	"net/netip"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/tunnel"
)

// setPeer materialises device d's WireGuard peer: AllowedIPs exactly its
// VIPs, endpoint ep (zero: keep the current one, or none yet).
func (s *Server) setPeer(d devInfo, ep netip.AddrPort) error {
	p := tunnel.Peer{PublicKey: d.wg, AllowedIPs: d.allowedIPs(), Endpoint: ep}
	if err := s.dp.SetPeer(p); err != nil {
		s.log.Error("setting peer failed", "device", d.name, "err", err)
		return err
	}
	s.mu.Lock()
	s.live[d.wg] = d.id
	s.mu.Unlock()
	return nil
}

// removePeer retires device d's peer; the lease stays.
func (s *Server) removePeer(d devInfo, why string) {
	err := s.dp.RemovePeer(d.wg)
	if err != nil && !errors.Is(err, tunnel.ErrUnknownPeer) {
		s.log.Error("removing peer failed", "device", d.name, "err", err)
		return
	}
	s.mu.Lock()
	_, was := s.live[d.wg]
	delete(s.live, d.wg)
	s.mu.Unlock()
	if was {
		s.log.Debug("peer retired", "device", d.name, "reason", why)
	}
}

func (s *Server) removeAllPeers() {
	s.mu.Lock()
	keys := make([]tunnel.Key, 0, len(s.live))
	for k := range s.live {
		keys = append(keys, k)
	}
	s.live = map[tunnel.Key]string{}
	s.mu.Unlock()
	for _, k := range keys {
		if err := s.dp.RemovePeer(k); err != nil && !errors.Is(err, tunnel.ErrUnknownPeer) {
			s.log.Warn("removing peer at shutdown failed", "err", err)
		}
	}
}

func (s *Server) livePeers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// checkDevice is the binding cache's question about a device without a
// binding.
func (s *Server) checkDevice(id string) binding.Status {
	d, ok := s.idx.byIDCopy(id)
	switch {
	case !ok || d.wg.IsZero():
		return binding.StatusUnknownDevice
	case !d.revoked.IsZero():
		return binding.StatusRevoked
	}
	return binding.StatusAccepted
}

// onEvent applies a binding change to the data plane. The cache calls it
// synchronously inside Apply, so the peer is re-pointed before the ack goes
// out.
func (s *Server) onEvent(ev binding.Event) {
	d, ok := s.idx.byIDCopy(ev.Device)
	if !ok {
		return
	}
	switch ev.Kind {
	case binding.EventAdded:
		s.mu.Lock()
		delete(s.pending, d.id)
		s.bstate[d.id] = &bindingState{since: ev.Time}
		s.mu.Unlock()
		s.setPeer(d, ev.Endpoint)
		s.log.Info("binding added", "device", d.name, "care_of", ev.Endpoint, "seq", ev.Sequence)
	case binding.EventMoved, binding.EventPrimaryChanged:
		err := s.dp.SetEndpoint(d.wg, ev.Endpoint)
		if errors.Is(err, tunnel.ErrUnknownPeer) {
			err = s.setPeer(d, ev.Endpoint)
		}
		if err != nil {
			s.log.Error("re-pointing peer failed", "device", d.name, "err", err)
		}
		s.mu.Lock()
		if st := s.bstate[d.id]; st != nil {
			st.lastHandover = ev.Time
		}
		s.mu.Unlock()
		s.log.Info("device moved", "device", d.name, "from", ev.Previous, "to", ev.Endpoint,
			"kind", ev.Kind.String(), "bid", ev.PrimaryBID, "seq", ev.Sequence)
	case binding.EventExpired, binding.EventRemoved:
		s.mu.Lock()
		delete(s.bstate, d.id)
		s.mu.Unlock()
		if !d.static {
			s.removePeer(d, ev.Kind.String())
		}
		if ev.Kind == binding.EventExpired {
			s.log.Info("binding expired", "device", d.name, "last_care_of", ev.Previous)
		} else {
			s.log.Info("binding removed", "device", d.name)
		}
	}
}
