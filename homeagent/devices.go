package homeagent

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/tunnel"
)

// devInfo is the in-memory view of one device: what the control path, DNS
// and the data-plane events need without a store round trip. The store
// stays the truth; the index is rebuilt from it at start and updated after
// every committed change.
type devInfo struct {
	id, name   string
	ikey       string // ed25519 identity key bytes; "" until enrolled
	wg         tunnel.Key
	vip4, vip6 netip.Addr
	created    time.Time
	enrolled   time.Time
	revoked    time.Time
	static     bool // exported as wg-quick: a permanent peer, no mnode
}

func (d *devInfo) allowedIPs() []netip.Prefix {
	var out []netip.Prefix
	if d.vip4.IsValid() {
		out = append(out, netip.PrefixFrom(d.vip4, 32))
	}
	if d.vip6.IsValid() {
		out = append(out, netip.PrefixFrom(d.vip6, 128))
	}
	return out
}

// index holds every device by id, name, identity key and VIP. Safe for
// concurrent use; lookups return copies.
type index struct {
	mu     sync.RWMutex
	byID   map[string]*devInfo
	byName map[string]string
	byIKey map[string]string
	byVIP  map[netip.Addr]string
}

func newIndex() *index {
	return &index{byID: map[string]*devInfo{}, byName: map[string]string{}, byIKey: map[string]string{}, byVIP: map[netip.Addr]string{}}
}

// load fills the index from the store in one consistent walk, with the
// leases grouped by device when the store offers that (cheaper: no lease
// record decoded, one lookup per device).
func (x *index) load(ctx context.Context, st store.Store) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	// Size the maps for the store so that a big load does not rehash
	// them over and over (sizing only: a failing store fails the walk).
	if c, err := st.Counts(ctx); err == nil && len(x.byID) == 0 {
		x.byID = make(map[string]*devInfo, c.Devices)
		x.byName = make(map[string]string, c.Devices)
		x.byIKey = make(map[string]string, c.Devices)
		x.byVIP = make(map[netip.Addr]string, c.Leases)
	}
	v := store.Visitor{
		Device: func(d store.Device) error {
			x.putLocked(fromStore(d))
			return nil
		},
		Lease: func(l store.Lease) error {
			d := x.byID[l.DeviceID]
			if d == nil {
				return nil
			}
			x.setVIPLocked(d, l.Addr)
			return nil
		},
	}
	if g, ok := st.(store.LeaseGrouper); ok {
		return g.WalkGrouped(ctx, func(id string, addrs []netip.Addr) error {
			if d := x.byID[id]; d != nil {
				for _, a := range addrs {
					x.setVIPLocked(d, a)
				}
			}
			return nil
		}, v)
	}
	return st.Walk(ctx, v)
}

func fromStore(d store.Device) *devInfo {
	return &devInfo{id: d.ID, name: d.Name, ikey: string(d.IdentityKey), wg: tunnel.Key(d.WGKey),
		created: d.Created, enrolled: d.Enrolled, revoked: d.Revoked}
}

func (x *index) setVIPLocked(d *devInfo, a netip.Addr) {
	if a.Is4() {
		if d.vip4.IsValid() {
			delete(x.byVIP, d.vip4)
		}
		d.vip4 = a
	} else {
		if d.vip6.IsValid() {
			delete(x.byVIP, d.vip6)
		}
		d.vip6 = a
	}
	x.byVIP[a] = d.id
}

// put inserts or replaces a device record, keeping its VIPs and static mark
// when it was known. Revocation is monotonic: a record read from the store
// before a revocation (a concurrent rename's) does not undo it.
func (x *index) put(d store.Device) devInfo {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := fromStore(d)
	if old := x.byID[d.ID]; old != nil {
		n.vip4, n.vip6, n.static = old.vip4, old.vip6, old.static
		if n.revoked.IsZero() {
			n.revoked = old.revoked
		}
		delete(x.byName, strings.ToLower(old.name))
		if old.ikey != "" {
			delete(x.byIKey, old.ikey)
		}
	}
	x.putLocked(n)
	return *n
}

func (x *index) putLocked(d *devInfo) {
	x.byID[d.id] = d
	x.byName[strings.ToLower(d.name)] = d.id
	if d.ikey != "" {
		x.byIKey[d.ikey] = d.id
	}
}

// remove forgets a device (deleted from the store).
func (x *index) remove(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	d := x.byID[id]
	if d == nil {
		return
	}
	delete(x.byID, id)
	if x.byName[strings.ToLower(d.name)] == id {
		delete(x.byName, strings.ToLower(d.name))
	}
	if d.ikey != "" && x.byIKey[d.ikey] == id {
		delete(x.byIKey, d.ikey)
	}
	for _, a := range []netip.Addr{d.vip4, d.vip6} {
		if a.IsValid() && x.byVIP[a] == id {
			delete(x.byVIP, a)
		}
	}
}

func (x *index) setVIPs(id string, leases []store.Lease) (devInfo, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	d := x.byID[id]
	if d == nil {
		return devInfo{}, false
	}
	for _, l := range leases {
		x.setVIPLocked(d, l.Addr)
	}
	return *d, true
}

func (x *index) setStatic(id string, static bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if d := x.byID[id]; d != nil {
		d.static = static
	}
}

func (x *index) byIDCopy(id string) (devInfo, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	d := x.byID[id]
	if d == nil {
		return devInfo{}, false
	}
	return *d, true
}

func (x *index) lookupName(name string) (devInfo, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	id, ok := x.byName[strings.ToLower(name)]
	if !ok {
		return devInfo{}, false
	}
	return *x.byID[id], true
}

func (x *index) lookupIKey(k []byte) (devInfo, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	id, ok := x.byIKey[string(k)]
	if !ok {
		return devInfo{}, false
	}
	return *x.byID[id], true
}

func (x *index) all() []devInfo {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]devInfo, 0, len(x.byID))
	for _, d := range x.byID {
		out = append(out, *d)
	}
	return out
}

func (x *index) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID)
}

// directory adapts the index to dns.Directory.
type directory struct{ x *index }

func (d directory) LookupName(name string) (v4, v6 netip.Addr, ok bool) {
	dev, ok := d.x.lookupName(name)
	if !ok || !dev.revoked.IsZero() {
		return netip.Addr{}, netip.Addr{}, false
	}
	return dev.vip4, dev.vip6, true
}

func (d directory) LookupAddr(a netip.Addr) (string, bool) {
	d.x.mu.RLock()
	defer d.x.mu.RUnlock()
	id, ok := d.x.byVIP[a]
	if !ok || !d.x.byID[id].revoked.IsZero() {
		return "", false
	}
	return dnsLabel(d.x.byID[id].name), true
}

func (d directory) IsVIP(a netip.Addr) bool {
	d.x.mu.RLock()
	defer d.x.mu.RUnlock()
	id, ok := d.x.byVIP[a.Unmap()]
	return ok && d.x.byID[id].revoked.IsZero()
}

// dnsLabel is the DNS label of a device name.
func dnsLabel(name string) string { return strings.ToLower(name) }

// validDeviceName accepts names that are DNS labels, so every device has a
// name in the zone.
func validDeviceName(name string) error {
	if len(name) == 0 || len(name) > 63 {
		return fmt.Errorf("device name %q: 1 to 63 characters", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (r == '-' && i > 0 && i < len(name)-1)
		if !ok {
			return fmt.Errorf("device name %q: letters, digits and inner hyphens only (it is a DNS label)", name)
		}
	}
	return nil
}
