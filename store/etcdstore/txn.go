package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// readKV is what a transaction saw of one key: its value and modification
// revision (0: absent).
type readKV struct {
	val []byte
	rev int64
}

// write is a buffered write: a put of val, or a delete.
type write struct {
	val []byte
	del bool
}

// tx is one attempt of an optimistic transaction: the keys read (each
// compared at commit), and the writes to commit if none changed.
type tx struct {
	s      *Store
	ctx    context.Context
	read   map[string]readKV
	pre    map[string]readKV // current values from the last failed attempt
	writes map[string]write
}

// refusal is a logical refusal (not found, exists, conflict...) decided
// by a transaction function: the call returns it, nothing is written.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }
func (r refusal) Unwrap() error { return r.err }

func refuse(err error) error { return refusal{err} }

// req bounds one request to etcd.
func (t *tx) req() (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.ctx, t.s.reqTimeout)
}

// get returns a key's value (nil, false when absent) and records it for
// the commit's compares. A key is read once per attempt.
func (t *tx) get(key string) ([]byte, bool, error) {
	if err := t.fetch(key); err != nil {
		return nil, false, err
	}
	r := t.read[key]
	return r.val, r.rev != 0, nil
}

// fetch reads the keys not read yet in one request (one revision).
func (t *tx) fetch(keys ...string) error {
	var ops []clientv3.Op
	var want []string
	for _, k := range keys {
		if _, ok := t.read[k]; ok || slices.Contains(want, k) {
			continue
		}
		if r, ok := t.pre[k]; ok {
			t.read[k] = r
			continue
		}
		want = append(want, k)
		ops = append(ops, clientv3.OpGet(k))
	}
	if len(ops) == 0 {
		return nil
	}
	ctx, cancel := t.req()
	defer cancel()
	resp, err := t.s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return err
	}
	for i, k := range want {
		t.read[k] = firstKV(resp.Responses[i].GetResponseRange().Kvs)
	}
	return nil
}

func firstKV(kvs []*mvccpb.KeyValue) readKV {
	if len(kvs) == 0 {
		return readKV{}
	}
	return readKV{val: kvs[0].Value, rev: kvs[0].ModRevision}
}

// list reads the keys under a prefix, without a compare of its own: the
// callers list a device's index entries, which only change together with
// the device record, which they read with get (see the package doc).
func (t *tx) list(prefix string) ([]*mvccpb.KeyValue, error) {
	ctx, cancel := t.req()
	defer cancel()
	resp, err := t.s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	if resp.More {
		return nil, fmt.Errorf("listing %q: more keys than one response holds", prefix)
	}
	return resp.Kvs, nil
}

func (t *tx) put(key string, val []byte) { t.writes[key] = write{val: val} }
func (t *tx) del(key string)             { t.writes[key] = write{del: true} }

// update runs fn as an optimistic transaction until its commit succeeds,
// fn refuses or fails, or it has lost s.maxRetries races. fn must reset
// its results when it starts (it may run several times) and decide only
// from what it reads through t.
func (s *Store) update(ctx context.Context, what string, fn func(t *tx) error) error {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("etcdstore: %s: %w", what, err)
	}
	defer done()
	t := &tx{s: s, ctx: ctx}
	schemaCmp := clientv3.Compare(clientv3.Value(s.k.schema()), "=", strconv.Itoa(SchemaVersion))
	for attempt := 1; ; attempt++ {
		t.read, t.writes = map[string]readKV{}, map[string]write{}
		if err := fn(t); err != nil {
			var r refusal
			if errors.As(err, &r) {
				return fmt.Errorf("etcdstore: %s: %w", what, r.err)
			}
			return s.fail(ctx, what, err)
		}
		readKeys := make([]string, 0, len(t.read))
		for k := range t.read {
			readKeys = append(readKeys, k)
		}
		slices.Sort(readKeys)
		cmps := []clientv3.Cmp{schemaCmp}
		elses := []clientv3.Op{clientv3.OpGet(s.k.schema())}
		for _, k := range readKeys {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", t.read[k].rev))
			elses = append(elses, clientv3.OpGet(k))
		}
		writeKeys := make([]string, 0, len(t.writes))
		for k := range t.writes {
			writeKeys = append(writeKeys, k)
		}
		slices.Sort(writeKeys)
		var ops []clientv3.Op
		for _, k := range writeKeys {
			if w := t.writes[k]; w.del {
				ops = append(ops, clientv3.OpDelete(k))
			} else {
				ops = append(ops, clientv3.OpPut(k, string(w.val)))
			}
		}
		rctx, cancel := t.req()
		resp, err := s.cli.Txn(rctx).If(cmps...).Then(ops...).Else(elses...).Commit()
		cancel()
		if err != nil {
			return s.fail(ctx, what, err)
		}
		if resp.Succeeded {
			return nil
		}
		// Lost a race: what changed is in the Else responses.
		s.lostRaces.Add(1)
		if sch := resp.Responses[0].GetResponseRange().Kvs; len(sch) != 1 {
			return s.fail(ctx, what, fmt.Errorf("schema key %s is gone", s.k.schema()))
		} else if err := checkSchema(sch[0].Value); err != nil {
			return s.fail(ctx, what, err)
		}
		t.pre = make(map[string]readKV, len(readKeys))
		for i, k := range readKeys {
			t.pre[k] = firstKV(resp.Responses[i+1].GetResponseRange().Kvs)
		}
		if attempt >= s.maxRetries {
			s.log.Warn("transaction keeps losing its race", "op", what, "attempts", attempt)
			return fmt.Errorf("etcdstore: %s: %w (%d attempts)", what, ErrContention, attempt)
		}
		// A short randomised pause, growing with the attempts, so that
		// writers racing for the same keys spread out.
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return s.fail(ctx, what, ctx.Err())
		}
	}
}

// view runs a read-only call.
func (s *Store) view(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("etcdstore: %s: %w", what, err)
	}
	defer done()
	if err := fn(ctx); err != nil {
		var r refusal
		if errors.As(err, &r) {
			return fmt.Errorf("etcdstore: %s: %w", what, r.err)
		}
		return s.fail(ctx, what, err)
	}
	return nil
}

// getAt reads one key at a revision (0: the current one) and returns its
// value (nil when absent) and the revision read.
func (s *Store) getAt(ctx context.Context, key string, rev int64) ([]byte, int64, error) {
	rctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
	defer cancel()
	var opts []clientv3.OpOption
	if rev != 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := s.cli.Get(rctx, key, opts...)
	if err != nil {
		return nil, 0, err
	}
	if len(resp.Kvs) == 0 {
		return nil, resp.Header.Revision, nil
	}
	return resp.Kvs[0].Value, resp.Header.Revision, nil
}

// pageSize is how many keys a range read asks for at once. etcd counts
// every key left in the range for each page (the response's total
// count), so reading n keys costs about n²/pageSize index steps: pages
// are large (a few MB of records at most). etcd 3.7's streaming range
// does without the count, but older servers lack it.
const pageSize = 10_000

// rangeAt calls fn for every key under prefix at revision rev (0: the
// current one; the first page fixes it), in key order, a page at a time.
// It returns the revision read.
func (s *Store) rangeAt(ctx context.Context, prefix string, rev int64, fn func(kv *mvccpb.KeyValue) error) (int64, error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		rctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
		resp, err := s.cli.Get(rctx, from, opts...)
		cancel()
		if err != nil {
			return rev, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if err := fn(kv); err != nil {
				return rev, err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, ctx.Err()
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// currentRev returns the cluster's current revision (a linearizable read).
func (s *Store) currentRev(ctx context.Context) (int64, error) {
	_, rev, err := s.getAt(ctx, s.k.schema(), 0)
	return rev, err
}

// withRev reads at a revision (0: the current one).
func withRev(rev int64) []clientv3.OpOption {
	if rev == 0 {
		return nil
	}
	return []clientv3.OpOption{clientv3.WithRev(rev)}
}
