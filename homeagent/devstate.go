package homeagent

import (
	"sync"
	"time"

	"github.com/homeip/homeip/tunnel"
)

// devState is the home agent's soft state of one device beyond its binding
// (which the binding cache holds): its registration, its live WireGuard
// peer and what the admin sees about its binding. There is one per device
// that ever registered, bound or had a peer, created on first use and kept
// for the server's life.
//
// # Lock order
//
// A devState's mu is the device lock: every change of the device's
// registration, binding or peer happens with it held — Register, binding
// updates, Deregister, the application of the binding cache's events
// (expiry included), revocation, re-enrolment, export, reservation and
// renaming — so one device's changes happen one at a time and in order.
// The order is:
//
//  1. devState.mu (at most one device at a time),
//  2. Server.mu.
//
// Nothing takes a device lock while holding Server.mu. The index's lock,
// the binding cache's shard locks, a session's write lock and the data
// plane's own locks are taken inside single calls and released before they
// return (the cache calls nothing back), so they come last and never wait
// for ours. Store transactions and data-plane calls may be made with a
// device lock held (they are that device's work); writes to a control
// stream, which can block for as long as the peer does not read, are made
// without any lock.
type devState struct {
	id string

	mu sync.Mutex
	// pending is when a registration without a binding lapses (zero: no
	// such registration). Guarded by mu; the device is in
	// Server.pendingDevs exactly while it is set.
	pending time.Time
	// peer is the public key of the device's live WireGuard peer (zero:
	// none). Guarded by mu.
	peer tunnel.Key
	// tat is the device's rate-limit state (Server.limit): kept here, not
	// with the binding, so that a deregistration or an expiry does not
	// refill it. Guarded by mu.
	tat int64
	// since and lastHandover are when the current binding began and when
	// its primary path last changed (zero: no binding, no handover).
	// Guarded by mu.
	since, lastHandover time.Time
	// mtu is the downlink path MTU of the primary path (see
	// nextDownlinkMTU). Guarded by mu.
	mtu pathMTU
}

// devState returns device id's record, creating it.
func (s *Server) devState(id string) *devState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.devs[id]
	if ds == nil {
		ds = &devState{id: id}
		s.devs[id] = ds
	}
	return ds
}

// devStateIfAny returns device id's record if it has one.
func (s *Server) devStateIfAny(id string) *devState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.devs[id]
}

// setPendingLocked records a registration without a binding that lapses at
// deadline. ds.mu must be held.
func (s *Server) setPendingLocked(ds *devState, deadline time.Time) {
	ds.pending = deadline
	s.mu.Lock()
	s.pendingDevs[ds] = struct{}{}
	s.mu.Unlock()
}

// clearPendingLocked forgets the device's registration without a binding.
// ds.mu must be held.
func (s *Server) clearPendingLocked(ds *devState) {
	if ds.pending.IsZero() {
		return
	}
	ds.pending = time.Time{}
	s.mu.Lock()
	delete(s.pendingDevs, ds)
	s.mu.Unlock()
}
