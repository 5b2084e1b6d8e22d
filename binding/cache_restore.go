package binding

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrRestore is wrapped by Cache.Restore's refusals of a snapshot.
var ErrRestore = errors.New("binding: cannot restore binding")

// Restore puts a binding kept from an earlier life of the cache (a
// Lookup or Range snapshot, written down and read back after a restart)
// into the cache as it was: its entries, its primary, its sequence number
// (so an update replayed after the restart is still stale) and its
// expiry, which keeps counting from where it was. It returns the
// EventAdded that materialises the peer at the primary's address.
//
// A snapshot that expired by now, names no device, has no primary entry,
// lists a binding id twice or holds more entries than the cache allows is
// refused with an error wrapping ErrRestore; so is a device that already
// has a binding (the live state wins). Nothing changes then.
func (c *Cache) Restore(now time.Time, b Binding) (Event, error) {
	fail := func(why string) (Event, error) {
		return Event{}, fmt.Errorf("%w of device %q: %s", ErrRestore, b.Device, why)
	}
	switch {
	case b.Device == "":
		return fail("no device name")
	case !b.Expires.After(now):
		return fail("expired at " + b.Expires.UTC().Format(time.RFC3339))
	case len(b.Entries) == 0:
		return fail("no care-of entries")
	case len(b.Entries) > c.cfg.MaxCareOf:
		return fail(fmt.Sprintf("%d care-of entries, at most %d allowed", len(b.Entries), c.cfg.MaxCareOf))
	}
	r := &record{device: strings.Clone(b.Device), primary: -1, seq: b.Sequence,
		expires: b.Expires.UnixNano(), entries: make([]entry, 0, len(b.Entries))}
	if max := now.Add(c.cfg.MaxLifetime).UnixNano(); r.expires > max {
		r.expires = max // never longer than this cache would grant
	}
	for i, e := range b.Entries {
		if i > 0 && e.BID <= b.Entries[i-1].BID {
			return fail("binding ids not strictly ascending")
		}
		ne := entry{observed: e.Observed, local: e.Local, bid: e.BID, kind: e.Kind, priority: e.Priority}
		if !e.LastSeen.IsZero() {
			ne.lastSeen = e.LastSeen.UnixNano()
		}
		if e.Primary {
			if r.primary >= 0 {
				return fail("two primary entries")
			}
			if !e.Observed.IsValid() {
				return fail("the primary entry has no observed address")
			}
			r.primary = int8(i)
		}
		r.entries = append(r.entries, ne)
	}
	if r.primary < 0 {
		return fail("no primary entry")
	}
	s := c.shard(b.Device)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[r.device]; ok {
		return fail("the device has a binding already")
	}
	s.m[r.device] = r
	s.heap.push(r, r.expires)
	p := r.entries[r.primary]
	return Event{Kind: EventAdded, Device: r.device, Time: now, Sequence: r.seq, PrimaryBID: p.bid, Endpoint: p.observed}, nil
}
