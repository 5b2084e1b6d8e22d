package binding

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Apply decides on a binding update for device that arrived from
// observed — the source address:port the home agent saw, which becomes
// the care-of address of the entry named by bu.Via (NAT-safe); the other
// entries are standby paths that keep the address they were last seen
// from. It is a pure decision on the cache's state; the caller sends the
// ack. Apply is for callers with no data plane to drive: it discards the
// Event that ApplyInto returns.
//
// The returned ack is always the one to send (unless the update succeeded
// without FlagAck). On rejection the error is an *Error with the same
// status, and nothing in the cache changed. The order of checks is:
// malformed, stale sequence, too many care-of entries (whether the device
// may have a binding at all, and whether it is over its rate limit, are
// the caller's questions, asked before; see Limiter); then a lifetime above
// Config.MaxLifetime is shortened (StatusLifetimeShortened), and a
// lifetime of 0 or FlagDeregister removes the binding.
//
// The primary entry is the observed entry with the highest Priority;
// ties go to the path seen most recently, then to the lower binding id.
func (c *Cache) Apply(now time.Time, device string, bu *BindingUpdate, observed netip.AddrPort) (BindingAck, error) {
	var ack BindingAck
	_, err := c.ApplyInto(&ack, now, device, bu, observed)
	return ack, err
}

// ApplyInto is Apply writing the ack into *ack and reusing its Entries
// slice, so that a steady stream of updates does not allocate, and
// returning the change for the data plane: EventAdded, EventMoved or
// EventPrimaryChanged with the endpoint to point the peer at, EventRemoved
// for a deregistration that removed a binding, or an Event with Kind 0
// when the endpoint stays as it was (a refresh, a rejection). The caller
// acts on it before it sends the ack, so that the downlink has moved when
// the device learns its update was accepted.
func (c *Cache) ApplyInto(ack *BindingAck, now time.Time, device string, bu *BindingUpdate, observed netip.AddrPort) (Event, error) {
	*ack = BindingAck{Observed: observed, Entries: ack.Entries[:0]}
	if bu == nil {
		return Event{}, reject(ack, StatusMalformed, "no update")
	}
	ack.Sequence = bu.Sequence
	dereg := bu.Lifetime == 0 || bu.Flags&FlagDeregister != 0
	if reason := validate(device, bu, observed, dereg); reason != "" {
		return Event{}, reject(ack, StatusMalformed, reason)
	}
	if len(bu.Entries) > MaxCareOfEntries {
		return Event{}, reject(ack, StatusTooManyCareOf, "update lists too many entries")
	}

	s := c.shard(device)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now.UnixNano()
	r := s.m[device]
	if r != nil {
		if !SeqNewer(bu.Sequence, r.seq) {
			ack.Sequence = r.seq
			ack.Status = StatusStaleSequence
			return Event{}, &Error{Status: StatusStaleSequence, Sequence: r.seq}
		}
	}

	if dereg {
		var ev Event
		if r != nil {
			ev = c.dropLocked(s, r, now, EventRemoved)
		}
		ack.Status = StatusAccepted
		return ev, nil
	}

	if n := c.countAfter(r, bu); n > c.cfg.MaxCareOf {
		return Event{}, reject(ack, StatusTooManyCareOf, "")
	}

	status, granted := StatusAccepted, bu.Lifetime
	if granted > c.cfg.MaxLifetime {
		status, granted = StatusLifetimeShortened, c.cfg.MaxLifetime
	}

	isNew := r == nil
	var oldBID uint16
	var oldAddr netip.AddrPort
	if isNew {
		r = &record{device: strings.Clone(device), primary: -1}
	} else if r.primary >= 0 {
		oldBID, oldAddr = r.entries[r.primary].bid, r.entries[r.primary].observed
	}

	if bu.Flags&FlagOverwrite != 0 {
		r.entries = dropUnlisted(r.entries, bu)
	}
	for i := range bu.Entries {
		ce := &bu.Entries[i]
		j := findEntry(r.entries, ce.BID)
		if ce.Flags&EntryRemove != 0 {
			if j >= 0 {
				r.entries = slices.Delete(r.entries, j, j+1)
			}
			continue
		}
		if j < 0 {
			r.entries, j = insertEntry(r.entries, ce.BID)
		}
		e := &r.entries[j]
		e.kind, e.priority, e.local = ce.Kind, ce.Priority, ce.Local
		if ce.BID == bu.Via {
			e.observed, e.lastSeen = observed, t
		}
	}
	r.primary = int8(choosePrimary(r.entries))
	r.seq = bu.Sequence
	exp := t + int64(granted)
	switch {
	case isNew:
		r.expires = exp
		s.m[r.device] = r
		s.heap.push(r, exp)
	case exp < r.expires: // shortened: queue the earlier time
		r.gen++
		r.expires = exp
		s.heap.push(r, exp)
	default: // extended: the queued item is early and gets re-queued
		r.expires = exp
	}

	p := &r.entries[r.primary] // the Via entry is observed, so there is one
	ev := Event{Device: r.device, Time: now, Sequence: r.seq, PrimaryBID: p.bid, Endpoint: p.observed, Previous: oldAddr}
	switch {
	case isNew:
		ev.Kind = EventAdded
	case p.bid != oldBID:
		ev.Kind = EventPrimaryChanged
	case p.observed != oldAddr:
		ev.Kind = EventMoved
	}

	ack.Status, ack.Lifetime = status, granted
	for i, e := range r.entries {
		var f uint8
		if i == int(r.primary) {
			f |= EntryPrimary
		}
		if e.observed.IsValid() {
			f |= EntryObserved
		}
		ack.Entries = append(ack.Entries, EntryStatus{BID: e.bid, Status: StatusAccepted, Flags: f})
	}
	if ev.Kind == 0 {
		ev = Event{}
	}
	return ev, nil
}

func reject(ack *BindingAck, st Status, reason string) error {
	ack.Status = st
	ack.Lifetime = 0
	ack.Entries = ack.Entries[:0]
	return &Error{Status: st, Reason: reason}
}

// validate returns why bu is malformed, or "".
func validate(device string, bu *BindingUpdate, observed netip.AddrPort, dereg bool) string {
	if device == "" {
		return "empty device name"
	}
	if !observed.IsValid() {
		return "no observed address"
	}
	if bu.Lifetime < 0 {
		return "negative lifetime"
	}
	via := false
	for i, ce := range bu.Entries {
		for _, other := range bu.Entries[:i] {
			if other.BID == ce.BID {
				return "binding id listed twice"
			}
		}
		if ce.BID == bu.Via && ce.Flags&EntryRemove == 0 {
			via = true
		}
	}
	if !dereg && !via {
		return "via does not name a listed entry"
	}
	return ""
}

// countAfter is the number of entries r would hold after bu.
func (c *Cache) countAfter(r *record, bu *BindingUpdate) int {
	var buf [2 * MaxCareOfEntries]uint16
	set := buf[:0]
	if r != nil && bu.Flags&FlagOverwrite == 0 {
		for _, e := range r.entries {
			set = append(set, e.bid)
		}
	}
	for _, ce := range bu.Entries {
		i := slices.Index(set, ce.BID)
		switch {
		case ce.Flags&EntryRemove != 0:
			if i >= 0 {
				set = slices.Delete(set, i, i+1)
			}
		case i < 0:
			set = append(set, ce.BID)
		}
	}
	return len(set)
}

func findEntry(es []entry, bid uint16) int {
	for i := range es {
		if es[i].bid == bid {
			return i
		}
	}
	return -1
}

// insertEntry adds a zero entry for bid in order, growing the slice by
// exactly one so that a device's entries take no slack memory.
func insertEntry(es []entry, bid uint16) ([]entry, int) {
	j := 0
	for j < len(es) && es[j].bid < bid {
		j++
	}
	if len(es) == cap(es) {
		n := make([]entry, len(es), len(es)+1)
		copy(n, es)
		es = n
	}
	es = slices.Insert(es, j, entry{bid: bid})
	return es, j
}

func dropUnlisted(es []entry, bu *BindingUpdate) []entry {
	out := es[:0]
	for _, e := range es {
		for _, ce := range bu.Entries {
			if ce.BID == e.bid {
				out = append(out, e)
				break
			}
		}
	}
	clear(es[len(out):])
	return out
}

// choosePrimary returns the index of the observed entry with the highest
// priority (then most recently seen, then lowest binding id), or -1.
func choosePrimary(es []entry) int {
	best := -1
	for i := range es {
		e := &es[i]
		if !e.observed.IsValid() {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := &es[best]
		if e.priority > b.priority || (e.priority == b.priority && e.lastSeen > b.lastSeen) {
			best = i
		}
	}
	return best
}
