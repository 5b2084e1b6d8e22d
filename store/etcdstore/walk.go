package etcdstore

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/homeip/homeip/store"
)

// Walk visits every record at one revision (a consistent snapshot):
// devices, leases, reservations, quarantine records. A walk longer than
// the cluster's compaction interval fails with etcd's "required revision
// has been compacted".
func (s *Store) Walk(ctx context.Context, v store.Visitor) error {
	return s.walk(ctx, nil, v)
}

// WalkGrouped is Walk with leases grouped by device (store.LeaseGrouper):
// it reads the devaddr index, which lists every device's addresses in
// device id order and changes in the same transactions as the lease
// records (Check verifies that they agree).
func (s *Store) WalkGrouped(ctx context.Context, leases func(deviceID string, addrs []netip.Addr) error, v store.Visitor) error {
	v.Lease = nil
	return s.walk(ctx, leases, v)
}

// addrKeyOf decodes the address at the end of a lease, reservation or
// quarantine key.
func addrKeyOf(key []byte, pre string) (netip.Addr, error) {
	rest, ok := strings.CutPrefix(string(key), pre)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: key %q outside %q", store.ErrCorrupt, key, pre)
	}
	return parseAddr(rest)
}

func (s *Store) walk(ctx context.Context, grouped func(string, []netip.Addr) error, v store.Visitor) error {
	return s.view(ctx, "walking the store", func(ctx context.Context) error {
		rev, err := s.currentRev(ctx)
		if err != nil {
			return err
		}
		k := s.k
		if v.Device != nil {
			if _, err := s.rangeAt(ctx, k.devs(), rev, func(kv *mvccpb.KeyValue) error {
				d, err := decodeDevice(kv.Value)
				if err == nil {
					err = v.Device(d)
				}
				return err
			}); err != nil {
				return err
			}
		}
		if grouped != nil {
			if err := s.walkDevAddr(ctx, rev, grouped); err != nil {
				return err
			}
		}
		holders := []struct {
			what string
			pre  string
			fn   func(id string, a netip.Addr, at time.Time) error
		}{
			{"lease", k.leases(), nil},
			{"reservation", k.resvs(), nil},
			{"quarantine record", k.quars(), nil},
		}
		if v.Lease != nil {
			holders[0].fn = func(id string, a netip.Addr, at time.Time) error {
				return v.Lease(store.Lease{DeviceID: id, Addr: a, Created: at})
			}
		}
		if v.Reservation != nil {
			holders[1].fn = func(id string, a netip.Addr, at time.Time) error {
				return v.Reservation(store.Reservation{DeviceID: id, Addr: a, Created: at})
			}
		}
		if v.Quarantined != nil {
			holders[2].fn = func(id string, a netip.Addr, at time.Time) error {
				return v.Quarantined(store.Quarantined{DeviceID: id, Addr: a, Released: at})
			}
		}
		for _, h := range holders {
			if h.fn == nil {
				continue
			}
			if _, err := s.rangeAt(ctx, h.pre, rev, func(kv *mvccpb.KeyValue) error {
				a, err := addrKeyOf(kv.Key, h.pre)
				if err != nil {
					return err
				}
				id, at, err := decodeHolder(h.what, kv.Value)
				if err != nil {
					return err
				}
				return h.fn(id, a, at)
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

// walkDevAddr calls fn once per device with the leased addresses the
// devaddr index lists for it (keys id NUL kind address, in id order).
func (s *Store) walkDevAddr(ctx context.Context, rev int64, fn func(string, []netip.Addr) error) error {
	var (
		cur   []byte // id of the device being collected
		addrs = make([]netip.Addr, 0, 4)
	)
	flush := func() error {
		if len(addrs) == 0 {
			return nil
		}
		err := fn(string(cur), addrs)
		addrs = addrs[:0]
		return err
	}
	pre := []byte(s.k.devAddrs())
	_, err := s.rangeAt(ctx, s.k.devAddrs(), rev, func(kv *mvccpb.KeyValue) error {
		rest := kv.Key[len(pre):]
		i := bytes.IndexByte(rest, 0)
		if i <= 0 || len(rest) < i+3 {
			return fmt.Errorf("%w: devaddr key %q", store.ErrCorrupt, kv.Key)
		}
		if rest[i+1] != kindLease {
			return nil
		}
		a, err := parseAddr(string(rest[i+2:]))
		if err != nil {
			return err
		}
		if !bytes.Equal(rest[:i], cur) {
			if err := flush(); err != nil {
				return err
			}
			cur = append(cur[:0], rest[:i]...)
			if err := store.ValidateID(string(cur)); err != nil {
				return fmt.Errorf("%w: devaddr key %q: %v", store.ErrCorrupt, kv.Key, err)
			}
		}
		addrs = append(addrs, a)
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// Counts returns the number of records of each kind, counted by etcd at
// one revision (nothing is decoded).
func (s *Store) Counts(ctx context.Context) (store.Counts, error) {
	var c store.Counts
	err := s.view(ctx, "counting records", func(ctx context.Context) error {
		k := s.k
		pres := []string{k.devs(), k.leases(), k.resvs(), k.quars(), k.toks()}
		ops := make([]clientv3.Op, len(pres))
		for i, p := range pres {
			ops[i] = clientv3.OpGet(p, clientv3.WithPrefix(), clientv3.WithCountOnly())
		}
		rctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
		defer cancel()
		resp, err := s.cli.Txn(rctx).Then(ops...).Commit()
		if err != nil {
			return err
		}
		n := func(i int) int { return int(resp.Responses[i].GetResponseRange().Count) }
		c = store.Counts{Devices: n(0), Leases: n(1), Reservations: n(2), Quarantined: n(3), Tokens: n(4)}
		return nil
	})
	return c, err
}
