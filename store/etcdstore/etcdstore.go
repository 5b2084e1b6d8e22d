package etcdstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/homeip/homeip/store"
)

// SchemaVersion is the key layout and record format this package writes
// (the value of the P/meta/schema key).
const SchemaVersion = 1

// Defaults of Config.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
	DefaultMaxRetries     = 32
)

// ErrContention is returned (wrapped) when a transaction lost its race
// with other writers Config.MaxRetries times in a row: the keys it
// depends on kept changing between its reads and its commit.
var ErrContention = errors.New("etcdstore: too much contention, transaction kept losing its race")

// Config says where the store lives. Endpoints and Prefix are required.
type Config struct {
	// Endpoints are the etcd client URLs ("https://10.0.0.1:2379" or
	// "host:2379").
	Endpoints []string
	// Prefix is prepended to every key (a "/" is added if it does not end
	// with one). Stores of different prefixes on one cluster are
	// independent; prefixes must not nest.
	Prefix string
	// TLS, when set, is used for every connection: the root CAs that
	// sign the members' certificates and the client certificate the
	// cluster asks for.
	TLS *tls.Config
	// DialTimeout bounds connecting to the cluster at Open
	// (DefaultDialTimeout when zero).
	DialTimeout time.Duration
	// RequestTimeout bounds every request to etcd (a read, a
	// transaction), on top of the caller's context
	// (DefaultRequestTimeout when zero).
	RequestTimeout time.Duration
	// MaxRetries bounds how many times a transaction that lost a race is
	// decided again before the call fails with ErrContention
	// (DefaultMaxRetries when zero).
	MaxRetries int
	// Logger receives the store's and the etcd client's warnings and
	// errors; nil discards them.
	Logger *slog.Logger
}

// Store is a store.Store on etcd. It is safe for concurrent use.
type Store struct {
	cli        *clientv3.Client
	log        *slog.Logger
	k          keys
	reqTimeout time.Duration
	maxRetries int

	closing context.Context // cancelled by Close: ends calls in flight
	cancel  context.CancelFunc

	mu       sync.RWMutex // guards closed; held for reading while a call starts
	closed   bool
	inflight sync.WaitGroup
	once     sync.Once
	closeErr error

	lostRaces atomic.Int64 // transactions whose compares failed
}

var (
	_ store.Store        = (*Store)(nil)
	_ store.LeaseGrouper = (*Store)(nil)
)

// keys builds the store's keys under its prefix (see the package doc).
type keys struct{ p string }

func (k keys) schema() string            { return k.p + "meta/schema" }
func (k keys) dev(id string) string      { return k.p + "dev/" + id }
func (k keys) devs() string              { return k.p + "dev/" }
func (k keys) name(n string) string      { return k.p + "name/" + n }
func (k keys) names() string             { return k.p + "name/" }
func (k keys) ikey(b []byte) string      { return k.p + "ikey/" + fmt.Sprintf("%x", b) }
func (k keys) ikeys() string             { return k.p + "ikey/" }
func (k keys) wgkey(b [32]byte) string   { return k.p + "wgkey/" + fmt.Sprintf("%x", b[:]) }
func (k keys) wgkeys() string            { return k.p + "wgkey/" }
func (k keys) lease(a netip.Addr) string { return k.p + "lease/" + a.String() }
func (k keys) leases() string            { return k.p + "lease/" }
func (k keys) resv(a netip.Addr) string  { return k.p + "resv/" + a.String() }
func (k keys) resvs() string             { return k.p + "resv/" }
func (k keys) quar(a netip.Addr) string  { return k.p + "quar/" + a.String() }
func (k keys) quars() string             { return k.p + "quar/" }
func (k keys) tok(h [32]byte) string     { return k.p + "tok/" + fmt.Sprintf("%x", h[:]) }
func (k keys) toks() string              { return k.p + "tok/" }
func (k keys) devAddrs() string          { return k.p + "devaddr/" }

// devAddr is the prefix of a device's devaddr entries; with kind (0 for
// both kinds) and an address, its entry.
func (k keys) devAddr(id string, kind byte) string {
	s := k.p + "devaddr/" + id + "\x00"
	if kind != 0 {
		s += string(kind)
	}
	return s
}
func (k keys) devToks() string         { return k.p + "devtok/" }
func (k keys) devTok(id string) string { return k.p + "devtok/" + id + "\x00" }
func (k keys) devTokOf(id string, h [32]byte) string {
	return k.devTok(id) + fmt.Sprintf("%x", h[:])
}

// Kinds of devaddr entries.
const (
	kindLease       = 'L'
	kindReservation = 'R'
)

// Open connects to the cluster and opens the store under cfg.Prefix,
// initialising an empty prefix. It refuses a prefix of a newer schema
// (store.ErrSchema) and one holding keys that are not a homeip store
// (store.ErrCorrupt). ctx bounds the connection and the first reads.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("etcdstore: opening: %w: no endpoints", store.ErrInvalid)
	}
	if cfg.Prefix == "" || !utf8.ValidString(cfg.Prefix) || strings.IndexByte(cfg.Prefix, 0) >= 0 {
		return nil, fmt.Errorf("etcdstore: opening: %w: prefix %q must be non-empty UTF-8 without NUL", store.ErrInvalid, cfg.Prefix)
	}
	prefix := cfg.Prefix
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "etcdstore", "prefix", prefix)
	s := &Store{
		log:        log,
		k:          keys{prefix},
		reqTimeout: cmp(cfg.RequestTimeout, DefaultRequestTimeout),
		maxRetries: cmp(cfg.MaxRetries, DefaultMaxRetries),
	}
	dial := cmp(cfg.DialTimeout, DefaultDialTimeout)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: dial,
		TLS:         cfg.TLS,
		Logger:      zap.New(newSlogCore(log)),
		// Keep idle connections to the members alive and notice dead
		// ones.
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("etcdstore: connecting to %v: %w", cfg.Endpoints, err)
	}
	s.cli = cli
	s.closing, s.cancel = context.WithCancel(context.Background())
	octx, cancel := context.WithTimeout(ctx, dial+s.reqTimeout)
	defer cancel()
	if err := s.prepare(octx); err != nil {
		s.cancel()
		cli.Close()
		return nil, fmt.Errorf("etcdstore: opening %s on %v: %w", prefix, cfg.Endpoints, err)
	}
	log.Debug("opened", "endpoints", cfg.Endpoints)
	return s, nil
}

func cmp[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// prepare checks the schema key and initialises an empty prefix.
func (s *Store) prepare(ctx context.Context) error {
	for range 3 {
		resp, err := s.cli.Txn(ctx).Then(
			clientv3.OpGet(s.k.schema()),
			clientv3.OpGet(s.k.p, clientv3.WithPrefix(), clientv3.WithCountOnly()),
		).Commit()
		if err != nil {
			return err
		}
		sch := resp.Responses[0].GetResponseRange().Kvs
		if len(sch) == 1 {
			return checkSchema(sch[0].Value)
		}
		if n := resp.Responses[1].GetResponseRange().Count; n > 0 {
			return fmt.Errorf("%w: %d keys under the prefix but no schema key %s", store.ErrCorrupt, n, s.k.schema())
		}
		put, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.Version(s.k.schema()), "=", 0)).
			Then(clientv3.OpPut(s.k.schema(), strconv.Itoa(SchemaVersion))).
			Commit()
		if err != nil {
			return err
		}
		if put.Succeeded {
			s.log.Info("initialised an empty prefix", "schema", SchemaVersion)
			return nil
		}
		// Another home agent initialised it meanwhile: read again.
	}
	return fmt.Errorf("%w: the schema key keeps changing", ErrContention)
}

// checkSchema refuses a schema this package does not write.
func checkSchema(v []byte) error {
	n, err := strconv.Atoi(string(v))
	switch {
	case err != nil || n < 1:
		return fmt.Errorf("%w: schema key holds %q", store.ErrCorrupt, v)
	case n > SchemaVersion:
		return fmt.Errorf("%w: prefix written by schema %d, this program understands up to %d", store.ErrSchema, n, SchemaVersion)
	case n < SchemaVersion:
		// Schema 1 is the first; a later version migrates here.
		return fmt.Errorf("%w: schema %d has no migration to %d", store.ErrSchema, n, SchemaVersion)
	}
	return nil
}

// Close ends the calls in flight, waits for them and disconnects. It is
// idempotent; afterwards every method fails with net.ErrClosed.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.inflight.Wait()
		if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
			s.closeErr = fmt.Errorf("etcdstore: closing: %w", err)
		}
	})
	return s.closeErr
}

// begin registers a call: it returns a context ended by ctx or Close, and
// the function that ends the call.
func (s *Store) begin(ctx context.Context) (context.Context, func(), error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, net.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.inflight.Add(1)
	cctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closing, cancel)
	return cctx, func() {
		stop()
		cancel()
		s.inflight.Done()
	}, nil
}

// fail wraps an error of a call: what was being done, and net.ErrClosed
// for a call ended by Close.
func (s *Store) fail(ctx context.Context, what string, err error) error {
	if s.closing.Err() != nil && (errors.Is(err, context.Canceled) || ctx.Err() != nil) {
		err = net.ErrClosed
	} else if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%v)", cerr, err)
	}
	return fmt.Errorf("etcdstore: %s: %w", what, err)
}

// Prefix returns the prefix of the store's keys (with its final "/").
func (s *Store) Prefix() string { return s.k.p }
