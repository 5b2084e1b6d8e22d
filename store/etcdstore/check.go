package etcdstore

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/homeip/homeip/store"
)

// Check verifies the store's consistency at one revision: every record
// decodes; no address is leased twice (one key per address, in canonical
// form) nor leased to one device and reserved for another; every lease,
// reservation and token belongs to an existing device, which holds at most
// one lease and one reservation per family; the name, identity-key,
// WireGuard-key, devaddr and devtok indexes agree with the records both
// ways; no quarantined address is leased; and no key under the prefix is
// outside the layout. A violation is reported as store.ErrCorrupt.
func (s *Store) Check(ctx context.Context) error {
	return s.view(ctx, "checking the store", func(ctx context.Context) error {
		rev, err := s.currentRev(ctx)
		if err != nil {
			return err
		}
		return s.check(ctx, rev)
	})
}

func (s *Store) check(ctx context.Context, rev int64) error {
	k := s.k
	bad := func(format string, args ...any) error {
		return fmt.Errorf("check: %w: %s", store.ErrCorrupt, fmt.Sprintf(format, args...))
	}
	all := func(pre string, fn func(kv *mvccpb.KeyValue) error) (int, error) {
		n := 0
		_, err := s.rangeAt(ctx, pre, rev, func(kv *mvccpb.KeyValue) error {
			n++
			return fn(kv)
		})
		return n, err
	}
	total := 1 // the schema key

	devs := map[string]store.Device{}
	n, err := all(k.devs(), func(kv *mvccpb.KeyValue) error {
		d, err := decodeDevice(kv.Value)
		if err != nil {
			return err
		}
		if k.dev(d.ID) != string(kv.Key) {
			return bad("key %q holds the record of device %q", kv.Key, d.ID)
		}
		devs[d.ID] = d
		return nil
	})
	if err != nil {
		return err
	}
	total += n

	// Unique indexes: each entry names a device whose field it is, and
	// each device's fields are indexed (counted both ways).
	indexes := []struct {
		what string
		pre  string
		key  func(store.Device) (string, bool)
	}{
		{"name", k.names(), func(d store.Device) (string, bool) { return k.name(d.Name), true }},
		{"identity key", k.ikeys(), func(d store.Device) (string, bool) { return k.ikey(d.IdentityKey), len(d.IdentityKey) > 0 }},
		{"WireGuard key", k.wgkeys(), func(d store.Device) (string, bool) { return k.wgkey(d.WGKey), d.WGKey != [32]byte{} }},
	}
	for _, ix := range indexes {
		n, err := all(ix.pre, func(kv *mvccpb.KeyValue) error {
			d, ok := devs[string(kv.Value)]
			if !ok {
				return bad("%s index entry %q names missing device %q", ix.what, kv.Key, kv.Value)
			}
			if key, has := ix.key(d); !has || key != string(kv.Key) {
				return bad("%s index entry %q names device %q, which has another", ix.what, kv.Key, d.ID)
			}
			return nil
		})
		if err != nil {
			return err
		}
		want := 0
		for _, d := range devs {
			if _, has := ix.key(d); has {
				want++
			}
		}
		if n != want {
			return bad("%s index has %d entries for %d devices with one", ix.what, n, want)
		}
		total += n
	}

	type famKey struct {
		id   string
		fam  int
		kind byte
	}
	seen := map[famKey]netip.Addr{}
	holders := map[byte]map[netip.Addr]string{kindLease: {}, kindReservation: {}}
	records := func(what, pre string, kind byte) error {
		n, err := all(pre, func(kv *mvccpb.KeyValue) error {
			a, err := addrKeyOf(kv.Key, pre)
			if err != nil {
				return err
			}
			id, _, err := decodeHolder(what, kv.Value)
			if err != nil {
				return err
			}
			if _, ok := devs[id]; !ok {
				return bad("%s %v belongs to missing device %q", what, a, id)
			}
			if _, dup := holders[kind][a]; dup {
				return bad("%v has two %s records", a, what)
			}
			holders[kind][a] = id
			fk := famKey{id, store.Family(a), kind}
			if prev, dup := seen[fk]; dup {
				return bad("device %q has two %ss of one family: %v and %v", id, what, prev, a)
			}
			seen[fk] = a
			return nil
		})
		total += n
		return err
	}
	if err := records("lease", k.leases(), kindLease); err != nil {
		return err
	}
	if err := records("reservation", k.resvs(), kindReservation); err != nil {
		return err
	}
	for a, r := range holders[kindReservation] {
		if l, ok := holders[kindLease][a]; ok && l != r {
			return bad("%v is leased to %q and reserved for %q", a, l, r)
		}
	}
	n, err = all(k.quars(), func(kv *mvccpb.KeyValue) error {
		a, err := addrKeyOf(kv.Key, k.quars())
		if err != nil {
			return err
		}
		if _, _, err := decodeHolder("quarantine record", kv.Value); err != nil {
			return err
		}
		if _, leased := holders[kindLease][a]; leased {
			return bad("quarantined address %v is leased", a)
		}
		return nil
	})
	if err != nil {
		return err
	}
	total += n

	// devaddr: exactly one entry per lease and reservation.
	n, err = all(k.devAddrs(), func(kv *mvccpb.KeyValue) error {
		id, _, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), k.devAddrs()), "\x00")
		if !ok {
			return bad("devaddr key %q", kv.Key)
		}
		kind, as, err := devAddrEntry(k.devAddr(id, 0), kv.Key)
		if err != nil {
			return err
		}
		a, err := parseAddr(as)
		if err != nil {
			return err
		}
		if holders[kind][a] != id {
			return bad("devaddr entry %q without its record", kv.Key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n != len(seen) {
		return bad("devaddr has %d entries for %d leases and reservations", n, len(seen))
	}
	total += n

	tokens := map[string]bool{}
	n, err = all(k.toks(), func(kv *mvccpb.KeyValue) error {
		h, err := k.hashOfTokKey(kv.Key)
		if err != nil {
			return err
		}
		t, err := decodeToken(h, kv.Value)
		if err != nil {
			return err
		}
		if _, ok := devs[t.DeviceID]; !ok {
			return bad("token of missing device %q", t.DeviceID)
		}
		tokens[k.devTokOf(t.DeviceID, h)] = true
		return nil
	})
	if err != nil {
		return err
	}
	total += n
	n, err = all(k.devToks(), func(kv *mvccpb.KeyValue) error {
		if _, _, err := k.devTokParts(kv.Key); err != nil {
			return err
		}
		if !tokens[string(kv.Key)] {
			return bad("devtok entry %q without its token", kv.Key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n != len(tokens) {
		return bad("devtok has %d entries for %d tokens", n, len(tokens))
	}
	total += n

	rctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
	defer cancel()
	resp, err := s.cli.Get(rctx, k.p, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithRev(rev))
	if err != nil {
		return err
	}
	if int(resp.Count) != total {
		return bad("%d keys under the prefix, %d of them in the layout", resp.Count, total)
	}
	return nil
}
