package homeagent

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/homeip/homeip/tunnel"
)

// keepDelay is how long the bindings keeper gathers changes before it
// writes them while the file is small: at most one write (and one fsync)
// per keepDelay, however many binding updates arrive, and a kill -9 loses
// at most the changes of the last keepDelay plus one write.
const keepDelay = 100 * time.Millisecond

// keepBytesPerSecond bounds the keeper's write rate: a large file (about
// 100 bytes a binding) is written less often than every keepDelay, so
// that keeping 40,000 bindings costs one 4 MB write a second at most, not
// ten.
const keepBytesPerSecond = 4 << 20

// keepDelayFor is how long the keeper gathers changes before writing a
// file of size bytes again.
func keepDelayFor(size int) time.Duration {
	return max(keepDelay, time.Duration(int64(size)*int64(time.Second)/keepBytesPerSecond))
}

// bindingKeeper writes the binding cache behind to BindingsFile, so that a
// restarted home agent knows where its devices are before they send
// anything (restoreBindings).
//
// The hot path only marks a device dirty (mark: one map write under mu);
// the keeper's goroutine, owned by Run, wakes at the first mark, waits
// keepDelay for more (longer for a large file: keepDelayFor), reads each dirty device's binding under its device
// lock and replaces the whole file atomically (writeFileAtomic): one
// fsync per batch, never one per update, and a crash leaves the previous
// file or the new one, whole. The cost of a write grows with the number of
// bindings (about 100 bytes each), not with the rate of updates.
//
// A sequence number accepted in the last batch before a kill -9 may be
// lost, so an update the device sent in that window, replayed after the
// restart, is not refused as stale; after a SIGTERM the final write
// leaves nothing out.
type bindingKeeper struct {
	path string
	log  *slog.Logger
	wake chan struct{}

	// mu guards dirty: the devices whose binding changed since the last
	// write. A leaf lock: nothing is taken while it is held.
	mu    sync.Mutex
	dirty map[string]struct{}

	// kept is what the file holds (or is about to): owned by the
	// keeper's goroutine while it runs, by Run before and after.
	kept map[string]keptBinding
	// unwritten: kept holds changes that a write failed to save.
	unwritten bool
	// keptCount is how many bindings the last write saved (metrics).
	keptCount atomic.Int64
	// size is the length of the last file written, owned like kept.
	size int
}

func newBindingKeeper(dataDir string, log *slog.Logger) *bindingKeeper {
	return &bindingKeeper{
		path:  filepath.Join(dataDir, BindingsFile),
		log:   log,
		wake:  make(chan struct{}, 1),
		dirty: map[string]struct{}{},
		kept:  map[string]keptBinding{},
	}
}

// mark notes that device id's binding changed. It never blocks.
func (k *bindingKeeper) mark(id string) {
	k.mu.Lock()
	k.dirty[id] = struct{}{}
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// run writes the marked bindings behind until ctx is done; Run writes the
// last ones itself after the connections have ended (flush).
func (k *bindingKeeper) run(ctx context.Context, s *Server) {
	t := time.NewTimer(0)
	if !t.Stop() {
		<-t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.wake:
		}
		t.Reset(keepDelayFor(k.size))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := k.flush(s); err != nil {
			// Tried again at the next change, or at the latest in
			// keepDelay.
			k.log.Error("writing the bindings behind failed", "file", k.path, "err", err)
			select {
			case k.wake <- struct{}{}:
			default:
			}
		}
	}
}

// flush reads the bindings of the devices marked since the last call and
// writes the file if anything changed. Only the keeper's owner calls it.
func (k *bindingKeeper) flush(s *Server) error {
	var dirty map[string]struct{}
	k.mu.Lock()
	if len(k.dirty) > 0 {
		dirty, k.dirty = k.dirty, make(map[string]struct{}, len(k.dirty))
	}
	k.mu.Unlock()
	if len(dirty) == 0 && !k.unwritten {
		return nil
	}
	for id := range dirty {
		kb, ok := s.keptBindingOf(id)
		if ok {
			k.kept[id] = kb
		} else {
			delete(k.kept, id)
		}
	}
	ks := make([]keptBinding, 0, len(k.kept))
	for _, kb := range k.kept {
		ks = append(ks, kb)
	}
	data := encodeBindings(ks)
	k.size = len(data)
	if err := writeFileAtomic(k.path, data); err != nil {
		k.unwritten = true
		return err
	}
	k.unwritten = false
	k.keptCount.Store(int64(len(ks)))
	return nil
}

// keptBindingOf reads what is to be kept of device id's binding, under
// its device lock; false when it has none (or the device is gone).
func (s *Server) keptBindingOf(id string) (keptBinding, bool) {
	ds := s.devStateIfAny(id)
	if ds == nil || len(id) > 255 { // a record holds ids of up to 255 bytes
		return keptBinding{}, false
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	b, ok := s.cache.Lookup(id)
	if !ok {
		return keptBinding{}, false
	}
	d, ok := s.idx.byIDCopy(id)
	if !ok || d.wg.IsZero() {
		return keptBinding{}, false
	}
	kb := keptBinding{b: b, wg: d.wg, since: ds.since, lastHandover: ds.lastHandover, mtu: ds.mtu}
	if sd, ok := s.dp.(sourcedDataPlane); ok && b.Primary.IsValid() {
		kb.local = sd.ControlSource(b.Primary)
	}
	return kb, true
}

// sourcedDataPlane is a data plane that knows which local address a
// device's control datagrams arrived on and can re-point a peer to leave
// from a given one (tunnel.Device): a restored binding's peer must answer
// from the address the device sent to, before any control datagram of
// the home agent's new life has arrived.
type sourcedDataPlane interface {
	ControlSource(ep netip.AddrPort) netip.Addr
	SetEndpointFrom(pub tunnel.Key, ep netip.AddrPort, src netip.Addr) error
}

// restoreBindings puts the bindings kept by the home agent's previous
// life back into the cache and re-creates their peers pointed at their
// primary care-of addresses, with the path MTU limit they had, before
// the control listener opens: the first packet to a VIP goes towards the
// device. A binding that has expired since, or whose device is gone,
// revoked or enrolled again with other keys, is dropped. A file that
// cannot be read is logged, moved aside and ignored; nothing is
// restored from it. Temporary files of writes a crash cut short are
// removed. Run calls it before the keeper's goroutine starts.
func (s *Server) restoreBindings() {
	k := s.keeper
	// A write cut short by a crash leaves its temporary file behind (the
	// file itself is whole: the rename never happened).
	if left, err := filepath.Glob(k.path + ".tmp*"); err == nil {
		for _, f := range left {
			if err := os.Remove(f); err != nil {
				s.log.Warn("removing an unfinished bindings file failed", "file", f, "err", err)
			}
		}
	}
	data, err := os.ReadFile(k.path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var kept []keptBinding
	if err == nil {
		kept, err = decodeBindings(data)
	}
	if err != nil {
		aside := k.path + ".refused"
		s.log.Error("bindings kept before the restart refused; starting without them", "file", k.path, "moved_to", aside, "err", err)
		if rerr := os.Rename(k.path, aside); rerr != nil {
			s.log.Error("moving the refused bindings file aside failed", "err", rerr)
		}
		return
	}
	now := s.now()
	restored := 0
	for _, kb := range kept {
		if s.restoreOne(kb, now) {
			k.kept[kb.b.Device] = kb
			restored++
		} else {
			k.mark(kb.b.Device) // the next write leaves it out
		}
	}
	k.keptCount.Store(int64(restored))
	s.log.Info("bindings restored", "file", k.path, "restored", restored, "dropped", len(kept)-restored)
}

// restoreOne restores one kept binding and its peer.
func (s *Server) restoreOne(kb keptBinding, now time.Time) bool {
	id := kb.b.Device
	d, ok := s.idx.byIDCopy(id)
	switch {
	case !ok:
		s.log.Info("kept binding dropped: no such device", "device", id)
		return false
	case !d.revoked.IsZero():
		s.log.Info("kept binding dropped: device revoked", "device", d.name)
		return false
	case d.wg.IsZero() || d.wg != kb.wg:
		s.log.Info("kept binding dropped: device enrolled again since", "device", d.name)
		return false
	}
	ds := s.devState(id)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ev, err := s.cache.Restore(now, kb.b)
	if err != nil {
		s.log.Info("kept binding dropped", "device", d.name, "err", err)
		return false
	}
	if err := s.setPeerLocked(ds, d, ev.Endpoint); err != nil {
		s.cache.Remove(now, id)
		return false
	}
	if sd, ok := s.dp.(sourcedDataPlane); ok && kb.local.IsValid() {
		if err := sd.SetEndpointFrom(d.wg, ev.Endpoint, kb.local); err != nil {
			s.log.Warn("restoring the local address toward a device failed", "device", d.name, "local", kb.local, "err", err)
		}
	}
	ds.since, ds.lastHandover, ds.mtu = kb.since, kb.lastHandover, kb.mtu
	if kb.mtu.Limit != 0 {
		if err := s.dp.SetPeerMTU(d.wg, kb.mtu.Limit); err != nil {
			s.log.Warn("restoring the path MTU toward a device failed", "device", d.name, "mtu", kb.mtu.Limit, "err", err)
			ds.mtu = pathMTU{State: mtuInterface}
		}
	}
	s.log.Info("binding restored", "device", d.name, "care_of", ev.Endpoint, "seq", ev.Sequence,
		"remaining", kb.b.Expires.Sub(now).Round(time.Second), "mtu", ds.mtu.Limit)
	return true
}
