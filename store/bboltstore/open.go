package bboltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/homeip/homeip/store"
)

// SchemaVersion is the layout this package writes.
const SchemaVersion = 1

// magic identifies a homeip store inside a bbolt file.
const magic = "homeip-store"

var (
	bMeta     = []byte("meta")
	bDevices  = []byte("devices")
	bName     = []byte("idx_name")
	bIKey     = []byte("idx_ikey")
	bWGKey    = []byte("idx_wgkey")
	bLeases   = []byte("leases")
	bResv     = []byte("reservations")
	bQuar     = []byte("quarantine")
	bDevAddr  = []byte("dev_addr")
	bTokens   = []byte("tokens")
	bDevToken = []byte("dev_tokens")

	allBuckets = [][]byte{bMeta, bDevices, bName, bIKey, bWGKey, bLeases, bResv, bQuar, bDevAddr, bTokens, bDevToken}

	kMagic  = []byte("magic")
	kSchema = []byte("schema")
)

// Migration upgrades a store from schema version From to From+1 inside the
// opening transaction.
type Migration struct {
	From uint32
	Run  func(tx *bolt.Tx) error
}

// migrations are the registered upgrades. Schema 1 is the first, so there
// are none yet; a future layout change appends here and bumps
// SchemaVersion.
var migrations []Migration

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Logger receives open, migration and batch errors; nil discards.
	Logger *slog.Logger
	// LockTimeout bounds the wait for another process's file lock
	// (default 5 s).
	LockTimeout time.Duration
	// MaxBatchDelay and MaxBatchSize tune group commit: how long a
	// commit waits for others to share its transaction and fsync, and
	// how many may share one (defaults 2 ms and 1000; 2 ms measured about
	// twice the throughput of bbolt's 10 ms with 64 callers).
	MaxBatchDelay time.Duration
	MaxBatchSize  int
	// ReadOnly opens an existing store for reading only (a shared lock,
	// so not while a home agent has it open): a missing file is
	// ErrNotFound and one that would need a migration ErrSchema, and
	// every mutating call fails. For checking a store (ha check).
	ReadOnly bool
}

// Store is a store.Store in one bbolt file. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	log  *slog.Logger
	path string

	closeOnce sync.Once
	closeErr  error
	mu        sync.RWMutex // held for reading by every call, for writing by Close
	closed    bool
}

var (
	_ store.Store        = (*Store)(nil)
	_ store.LeaseGrouper = (*Store)(nil)
)

// Open opens or creates the store at path.
func Open(path string, opts Options) (*Store, error) {
	return open(path, opts, SchemaVersion, migrations)
}

func open(path string, opts Options, target uint32, migs []Migration) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "bboltstore")
	if err := precheck(path); err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("bboltstore: opening %s: %w: no store there", path, store.ErrNotFound)
			}
			return nil, fmt.Errorf("bboltstore: opening %s: %w", path, err)
		}
	}
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	db, err := boltOpen(path, &bolt.Options{Timeout: timeout, FreelistType: bolt.FreelistMapType, ReadOnly: opts.ReadOnly})
	if err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			return nil, err
		}
		var pe *os.PathError
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("bboltstore: opening %s: locked by another process: %w", path, err)
		case errors.As(err, &pe):
			return nil, fmt.Errorf("bboltstore: opening %s: %w", path, err)
		}
		// Everything else bbolt reports at open is about the file's
		// content: invalid or torn meta pages, version, size.
		return nil, fmt.Errorf("bboltstore: opening %s: %w: %v", path, store.ErrCorrupt, err)
	}
	db.MaxBatchDelay = 2 * time.Millisecond
	if opts.MaxBatchDelay > 0 {
		db.MaxBatchDelay = opts.MaxBatchDelay
	}
	if opts.MaxBatchSize > 0 {
		db.MaxBatchSize = opts.MaxBatchSize
	}
	if err := prepareSafely(db, target, migs, opts.ReadOnly, log); err != nil {
		db.Close()
		return nil, fmt.Errorf("bboltstore: opening %s: %w", path, err)
	}
	return &Store{db: db, log: log, path: path}, nil
}

// boltOpen is bolt.Open with bbolt's panic on a damaged freelist or page
// turned into ErrCorrupt. The file descriptor bbolt had opened is lost in
// that case: the caller is about to report the damage and stop.
func boltOpen(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("bboltstore: opening %s: %w: bbolt: %v (run ha check)", path, store.ErrCorrupt, r)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// prepareSafely is prepare with a panic of bbolt's on a damaged page
// turned into ErrCorrupt.
func prepareSafely(db *bolt.DB, target uint32, migs []Migration, readOnly bool, log *slog.Logger) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = corruptPanic("preparing", r)
		}
	}()
	if readOnly {
		current := false
		if err := db.View(func(tx *bolt.Tx) error { current = isCurrent(tx, target); return nil }); err != nil {
			return err
		}
		if !current {
			return fmt.Errorf("%w: not a homeip store of schema %d (a read-only open neither creates nor migrates)", store.ErrSchema, target)
		}
		return nil
	}
	return prepare(db, target, migs, log)
}

// precheck refuses a non-empty file that does not carry bbolt's magic in
// a meta page, before bbolt opens it read-write.
func precheck(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bboltstore: opening %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, 64<<10+32)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("bboltstore: reading %s: %w", path, err)
	}
	head = head[:n]
	if n == 0 {
		return nil // empty file: a new store
	}
	// bbolt's meta pages: page header (16 bytes) then magic 0xED0CDAED in
	// native (little-endian on every platform we run on) order. Page 0,
	// or page 1 at any plausible page size if page 0 was torn.
	const boltMagic = 0xED0CDAED
	for _, off := range []int{16, 4096 + 16, 8192 + 16, 16384 + 16, 32768 + 16, 65536 + 16} {
		if off+4 <= n && binary.LittleEndian.Uint32(head[off:]) == boltMagic {
			return nil
		}
	}
	return fmt.Errorf("bboltstore: opening %s: %w: not a bbolt database", path, store.ErrCorrupt)
}

// prepare checks (or, in an empty database, writes) the magic and schema,
// creates missing buckets and runs migrations, all in one transaction. A
// store already at the target schema is only read: opening it writes and
// fsyncs nothing, which keeps a home agent's start quick.
func prepare(db *bolt.DB, target uint32, migs []Migration, log *slog.Logger) error {
	current := false
	if err := db.View(func(tx *bolt.Tx) error { current = isCurrent(tx, target); return nil }); err != nil {
		return err
	}
	if current {
		return nil
	}
	return db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("%w: a bbolt database, but not a homeip store", store.ErrCorrupt)
			}
			for _, b := range allBuckets {
				if _, err := tx.CreateBucket(b); err != nil {
					return err
				}
			}
			meta = tx.Bucket(bMeta)
			if err := meta.Put(kMagic, []byte(magic)); err != nil {
				return err
			}
			log.Info("created store", "schema", target)
			return putSchema(meta, target)
		}
		if !bytes.Equal(meta.Get(kMagic), []byte(magic)) {
			return fmt.Errorf("%w: meta bucket without the homeip magic", store.ErrCorrupt)
		}
		raw := meta.Get(kSchema)
		if len(raw) != 4 {
			return fmt.Errorf("%w: schema version missing", store.ErrCorrupt)
		}
		v := binary.BigEndian.Uint32(raw)
		if v > target {
			return fmt.Errorf("%w: file has schema %d, this program knows up to %d", store.ErrSchema, v, target)
		}
		for v < target {
			var m *Migration
			for i := range migs {
				if migs[i].From == v {
					m = &migs[i]
				}
			}
			if m == nil {
				return fmt.Errorf("%w: no migration from schema %d", store.ErrSchema, v)
			}
			if err := m.Run(tx); err != nil {
				return fmt.Errorf("migrating schema %d to %d: %w", v, v+1, err)
			}
			v++
			log.Info("migrated store", "schema", v)
		}
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("%w: bucket %s missing", store.ErrCorrupt, b)
			}
		}
		return putSchema(meta, v)
	})
}

// isCurrent says whether the file is a homeip store at schema target
// with every bucket in place: nothing for prepare to write.
func isCurrent(tx *bolt.Tx, target uint32) bool {
	meta := tx.Bucket(bMeta)
	if meta == nil || !bytes.Equal(meta.Get(kMagic), []byte(magic)) {
		return false
	}
	raw := meta.Get(kSchema)
	if len(raw) != 4 || binary.BigEndian.Uint32(raw) != target {
		return false
	}
	for _, b := range allBuckets {
		if tx.Bucket(b) == nil {
			return false
		}
	}
	return true
}

func putSchema(meta *bolt.Bucket, v uint32) error {
	return meta.Put(kSchema, binary.BigEndian.AppendUint32(nil, v))
}

// Close closes the file. It is idempotent and waits for running calls.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// begin is called at the start of every method: it fails after Close or
// when ctx is done, else returns the function that ends the call.
func (s *Store) begin(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, net.ErrClosed
	}
	return s.mu.RUnlock, nil
}

// Check runs bbolt's consistency check over the whole file and then
// verifies the store's own invariants: every record decodes, indexes and
// records agree, no address is leased twice (the key is the address, so
// that holds by construction) and no device holds two leases of a family.
func (s *Store) Check(ctx context.Context) (err error) {
	done, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("bboltstore: check: %w", err)
	}
	defer done()
	defer s.recoverCorrupt("check", &err)
	return s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("bboltstore: check: %w: %v", store.ErrCorrupt, err)
		}
		return checkInvariants(tx)
	})
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }
