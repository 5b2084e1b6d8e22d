package binding

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Cache defaults, applied by NewCache to zero Config fields.
const (
	DefaultMaxCareOf     = 4
	DefaultMaxLifetime   = time.Hour
	DefaultSweepInterval = time.Second
	defaultShards        = 64
)

// Config configures a Cache. The zero value is usable.
type Config struct {
	// MaxCareOf is the most care-of entries a device may hold
	// (default 4, at most MaxCareOfEntries).
	MaxCareOf int
	// MaxLifetime caps granted lifetimes (default 1 h); a longer request
	// is shortened and acknowledged with StatusLifetimeShortened.
	MaxLifetime time.Duration
	// Now is the clock Run reads (default time.Now). Apply, Remove and
	// Expire take the time as an argument instead.
	Now func() time.Time
	// SweepInterval is how often Run expires bindings (default 1 s):
	// expiry is late by at most this much.
	SweepInterval time.Duration
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Cache is the home agent's binding cache: for each device, its care-of
// entries (one primary, the others standby), the last accepted sequence
// number and the expiry time. It is soft state; leases and devices live
// in the store.
//
// Cache is safe for concurrent use. Devices are spread over 64 shards by
// a keyed hash of the device name; each shard has its own mutex, map and
// expiry heap, so updates of different devices rarely contend and all
// changes of one device are serialised by its shard lock.
//
// The cache calls nothing back: ApplyInto, Remove and Expire return the
// changes they made as Events, and the caller acts on them (re-points the
// data plane) after the call, with no lock of the cache held. A caller
// that needs one device's events applied in order serialises its own
// calls for that device (the home agent holds a per-device lock around
// ApplyInto and Remove and the application of their events, and treats an
// expiry as stale when the device has a binding again by the time it
// applies it).
type Cache struct {
	cfg    Config
	seed   maphash.Seed
	shards []shard
	log    *slog.Logger
}

type shard struct {
	mu   sync.Mutex
	m    map[string]*record // guarded by mu
	heap expiryHeap         // guarded by mu
	_    [40]byte           // keep neighbouring locks off one cache line
}

// record is one device's binding. Times are Unix nanoseconds.
type record struct {
	device  string
	entries []entry // sorted by BID
	expires int64
	gen     uint32 // generation of its current expiry heap item
	seq     uint16
	primary int8 // index into entries, -1 if none is observed
}

type entry struct {
	observed netip.AddrPort // care-of address seen by the home agent; zero until seen
	local    netip.AddrPort // address the device reported
	lastSeen int64          // when an update last arrived on this path
	bid      uint16
	kind     Kind
	priority uint8
}

// NewCache returns an empty cache.
func NewCache(cfg Config) *Cache {
	if cfg.MaxCareOf <= 0 {
		cfg.MaxCareOf = DefaultMaxCareOf
	}
	cfg.MaxCareOf = min(cfg.MaxCareOf, MaxCareOfEntries)
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		cfg:    cfg,
		seed:   maphash.MakeSeed(),
		shards: make([]shard, defaultShards),
		log:    log.With("component", "binding"),
	}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*record)
	}
	return c
}

func (c *Cache) shard(device string) *shard {
	return &c.shards[maphash.String(c.seed, device)%uint64(len(c.shards))]
}

// Entry is one care-of entry of a Binding.
type Entry struct {
	BID      uint16
	Kind     Kind
	Priority uint8
	// Observed is the address the home agent saw this path's last update
	// come from; zero for a standby path never seen.
	Observed netip.AddrPort
	// Local is the address the device reported for this path.
	Local netip.AddrPort
	// LastSeen is when an update last arrived on this path (zero if never).
	LastSeen time.Time
	// Primary marks the entry downlink traffic goes to.
	Primary bool
}

// Binding is a snapshot of one device's binding.
type Binding struct {
	Device   string
	Sequence uint16
	Expires  time.Time
	// Primary is the primary entry's observed address (the WireGuard
	// endpoint); PrimaryBID its binding id.
	Primary    netip.AddrPort
	PrimaryBID uint16
	// Entries, sorted by binding id.
	Entries []Entry
}

func (r *record) snapshot() Binding {
	b := Binding{Device: r.device, Sequence: r.seq, Expires: time.Unix(0, r.expires), Entries: make([]Entry, len(r.entries))}
	for i, e := range r.entries {
		b.Entries[i] = Entry{BID: e.bid, Kind: e.kind, Priority: e.priority, Observed: e.observed, Local: e.local, Primary: i == int(r.primary)}
		if e.lastSeen != 0 {
			b.Entries[i].LastSeen = time.Unix(0, e.lastSeen)
		}
	}
	if r.primary >= 0 {
		p := r.entries[r.primary]
		b.Primary, b.PrimaryBID = p.observed, p.bid
	}
	return b
}

// Lookup returns a snapshot of the device's binding.
func (c *Cache) Lookup(device string) (Binding, bool) {
	s := c.shard(device)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[device]
	if !ok {
		return Binding{}, false
	}
	return r.snapshot(), true
}

// Len returns the number of bindings.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Range calls f with a snapshot of every binding, one shard at a time,
// until f returns false. f runs without locks held and may call the Cache;
// bindings changed meanwhile may be seen in either state.
func (c *Cache) Range(f func(Binding) bool) {
	var batch []Binding
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		batch = batch[:0]
		for _, r := range s.m {
			batch = append(batch, r.snapshot())
		}
		s.mu.Unlock()
		for _, b := range batch {
			if !f(b) {
				return
			}
		}
	}
}

// Remove deletes the device's binding (deregistration by the home agent,
// revocation) and reports whether there was one, with its EventRemoved
// for the caller to act on. The record's memory is released when its
// queued expiry time passes and Expire discards the item.
func (c *Cache) Remove(now time.Time, device string) (Event, bool) {
	s := c.shard(device)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[device]
	if !ok {
		return Event{}, false
	}
	return c.dropLocked(s, r, now, EventRemoved), true
}

// dropLocked removes r from its shard and returns the event of kind that
// says so.
func (c *Cache) dropLocked(s *shard, r *record, now time.Time, kind EventKind) Event {
	var prev netip.AddrPort
	if r.primary >= 0 {
		prev = r.entries[r.primary].observed
	}
	delete(s.m, r.device)
	r.gen++ // its queued heap items are garbage now
	return Event{Kind: kind, Device: r.device, Time: now, Sequence: r.seq, Previous: prev}
}

// Expire removes every binding whose lifetime ended at or before now and
// appends an EventExpired for each to dst, which it returns. It looks only
// at the head of each shard's expiry heap (see expiryHeap). The bindings
// are gone when it returns; the caller retires their peers. By then a
// device may have a binding again (an update that came in between), which
// the caller checks before acting on the event.
func (c *Cache) Expire(now time.Time, dst []Event) []Event {
	t := now.UnixNano()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for len(s.heap) > 0 && s.heap[0].expires <= t {
			it := s.heap[0]
			switch r := it.r; {
			case it.gen != r.gen: // superseded or removed
				s.heap.pop()
			case r.expires > t: // refreshed since queued
				s.heap.requeueTop(r.expires)
			default:
				s.heap.pop()
				dst = append(dst, c.dropLocked(s, r, now, EventExpired))
			}
		}
		s.mu.Unlock()
	}
	return dst
}

// NextExpiry returns when Expire may next have work, for a caller that
// schedules Expire itself instead of using Run. It is never later than
// the earliest expiry in the cache but may be earlier (the heap is lazy:
// a refreshed binding's old time still counts until Expire re-queues it),
// so the caller calls Expire then and asks again.
func (c *Cache) NextExpiry() (time.Time, bool) {
	var next int64
	found := false
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		if len(s.heap) > 0 && (!found || s.heap[0].expires < next) {
			next, found = s.heap[0].expires, true
		}
		s.mu.Unlock()
	}
	if !found {
		return time.Time{}, false
	}
	return time.Unix(0, next), true
}

// Run expires bindings every Config.SweepInterval, reading Config.Now,
// until ctx is done; it then returns ctx.Err(). It discards the expiry
// events, so it is for a caller with nothing to retire when a binding
// expires (a test's fake home agent); a caller with a data plane calls
// Expire itself and acts on the events. Run is the cache's only goroutine
// and is owned by the caller.
func (c *Cache) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.SweepInterval)
	defer t.Stop()
	var evs []Event
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			evs = c.Expire(c.cfg.Now(), evs[:0])
			if len(evs) > 0 {
				c.log.Debug("bindings expired", "count", len(evs))
			}
			clear(evs) // keep no device names alive
		}
	}
}
