package homeagent

import (
	"github.com/homeip/homeip/tunnel"
)

// Path MTU states, as `ha binding list` shows them.
const (
	// mtuInterface: no search result on the primary path yet and no limit
	// announced by the device; packets to the device are limited by the
	// interface MTU only (optimistic).
	mtuInterface = "interface"
	// mtuDevice: no search result on the primary path yet; the limit is
	// the one the device announced for it (BindingUpdate.PathMTU: what its
	// access interface allows, or what it found there before).
	mtuDevice = "device"
	// mtuSearching: path MTU discovery runs; Confirmed is a lower bound,
	// not applied.
	mtuSearching = "searching"
	// mtuDiscovered: the search on the primary path concluded and its
	// result is applied.
	mtuDiscovered = "discovered"
)

// quic-go's path MTU discovery probes UDP payloads up to quicMaxPayload
// and ends its search when the bounds are at most quicSearchResolution
// apart: a result that close to quicMaxPayload is quic-go's ceiling, not
// the path's.
const (
	quicMaxPayload       = 1452
	quicSearchResolution = 21
)

// pathMTU is the downlink path MTU of a device's primary path.
type pathMTU struct {
	// Limit is the per-peer MTU applied (DataPlane.SetPeerMTU): 0 for the
	// interface MTU.
	Limit int
	// Confirmed is the largest inner packet the search confirmed so far
	// (0: none yet).
	Confirmed int
	// State is mtuInterface, mtuSearching or mtuDiscovered.
	State string
}

// downlinkMTU is the home agent's policy for the path MTU toward a device,
// from the latest result of QUIC's path MTU discovery on the connection
// of its primary path (the home agent sends the probes, so this is the
// downlink direction): payload is the largest UDP payload confirmed (0:
// none yet), done whether the search ended; ifMTU is the WireGuard
// interface's MTU.
//
// Optimistic: until the search on a new primary path concludes, the peer
// has no limit of its own (the interface MTU) but the one the device
// announced (nextDownlinkMTU); lower bounds found on the way are shown,
// not applied. A concluded search sets the limit to the
// inner packet its result carries (tunnel.InnerMTU), none when that is
// the interface MTU or more or when the search stopped at quic-go's own
// ceiling. A move opens a new connection with a new search; a NAT
// rebinding makes quic-go search again on the new mapping, and the limit
// found before stays until that search concludes.
func downlinkMTU(payload int, done bool, ifMTU int) pathMTU {
	inner := tunnel.InnerMTU(payload)
	if payload <= 0 || inner < tunnel.MinPeerMTU {
		return pathMTU{State: mtuInterface}
	}
	m := pathMTU{Confirmed: min(inner, ifMTU), State: mtuSearching}
	if !done {
		return m
	}
	m.State = mtuDiscovered
	if payload < quicMaxPayload-quicSearchResolution && inner < ifMTU {
		m.Limit = inner
	}
	return m
}

// nextDownlinkMTU is the path MTU toward a device after a new result of
// the search on its primary path (downlinkMTU), given what was in force
// before (prev). newPath says the primary path changed: what was found on
// the previous one does not apply, and the path starts at the limit the
// device announced for it (hint, BindingUpdate.PathMTU; 0: none, the
// interface MTU) until a search on it concludes; a search result never
// exceeds what the device announced. Otherwise a result of a search still
// under way (a NAT rebinding makes quic-go search the same network again;
// a search concluded early by binding.PathMTUSettle may go on) keeps the limit in
// force unless it confirmed more.
func nextDownlinkMTU(prev pathMTU, payload int, done, newPath bool, hint, ifMTU int) pathMTU {
	m := downlinkMTU(payload, done, ifMTU)
	if newPath {
		start := 0
		if hint >= tunnel.MinPeerMTU && hint < ifMTU {
			start = hint
		}
		switch {
		case start == 0:
		case m.State == mtuInterface:
			m.Limit, m.State = start, mtuDevice
		case m.State == mtuSearching:
			m.Limit, m.State = start, mtuDevice
		case m.Limit == 0 || m.Limit > start:
			m.Limit = start
		}
		return m
	}
	if m.State == mtuInterface {
		return prev // nothing new about this path
	}
	if m.State == mtuDiscovered {
		if prev.State == mtuDevice && prev.Limit != 0 && (m.Limit == 0 || m.Limit > prev.Limit) {
			m.Limit = prev.Limit // never above what the device announced
		}
		return m
	}
	m.Limit = prev.Limit
	if m.Limit != 0 && m.Confirmed > m.Limit && prev.State != mtuDevice {
		m.Limit = m.Confirmed
		if m.Limit >= ifMTU {
			m.Limit = 0
		}
	}
	if prev.State == mtuDiscovered && m.Confirmed <= prev.Confirmed {
		return prev // searching again below what was found: nothing new
	}
	if prev.State == mtuDevice {
		m.State = mtuDevice // the device's bound holds while the search runs
	}
	return m
}

// applyDownlinkMTULocked applies nextDownlinkMTU to device d's peer and
// records it in ds for the binding listing; hint is what the device
// announced for a new path. ds.mu must be held.
func (s *Server) applyDownlinkMTULocked(ds *devState, d devInfo, payload int, done, newPath bool, hint int) {
	prev := ds.mtu
	m := nextDownlinkMTU(prev, payload, done, newPath, hint, s.cfg.MTU)
	if ds.peer != d.wg {
		return // no live peer to limit (a static device's peer is not ours to limit either)
	}
	if m.Limit != prev.Limit || newPath {
		if err := s.dp.SetPeerMTU(d.wg, m.Limit); err != nil {
			s.log.Warn("setting the path MTU toward a device failed", "device", d.name, "mtu", m.Limit, "err", err)
			return
		}
	}
	switch {
	case m.State == mtuDiscovered && (prev.State != mtuDiscovered || m.Limit != prev.Limit):
		s.log.Info("path MTU toward device discovered", "device", d.name, "udp_payload", payload, "limit", m.Limit)
	case m.State == mtuDevice && newPath:
		s.log.Debug("path MTU toward device as it announced", "device", d.name, "limit", m.Limit)
	}
	if m != prev {
		s.keeper.mark(d.id)
	}
	ds.mtu = m
}

// followPathMTU applies the path MTU discovery results of connection ss
// as they come (onConnMTU) until stop is closed or the connection ends.
// serveConn runs it in a goroutine of its own and waits for it.
func (s *Server) followPathMTU(ss *session, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-ss.conn.Context().Done():
			return
		case <-ss.paths.Updates():
			payload, done := ss.paths.pathMTU()
			if payload > 0 {
				s.onConnMTU(ss, payload, done)
			}
		}
	}
}

// onConnMTU takes a path MTU discovery result of connection ss and
// applies it when ss carries the device's primary path: its current
// connection, bound from where the primary care-of address is. It takes
// the device lock, so it must not run on quic-go's connection goroutine.
func (s *Server) onConnMTU(ss *session, payload int, done bool) {
	s.mu.Lock()
	device := ss.device
	s.mu.Unlock()
	if device == "" {
		return
	}
	ds := s.devState(device)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	s.mu.Lock()
	current := s.sessions[device] == ss
	s.mu.Unlock()
	if !current {
		return
	}
	b, ok := s.cache.Lookup(device)
	if !ok || b.Primary != ss.observed() {
		return
	}
	d, ok := s.idx.byIDCopy(device)
	if !ok || d.ikey != string(ss.ikey) {
		return
	}
	s.applyDownlinkMTULocked(ds, d, payload, done, false, 0)
}
