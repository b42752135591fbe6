package kv

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/lockstepdb/lockstep/machine"
)

// The runtime drives a Store as a state machine that keeps its own state.
var _ machine.DurableStateMachine = (*Store)(nil)

// ErrClosed is returned by reads and watches on a closed store.
var ErrClosed = errors.New("kv: store closed")

// Store is lockstep's replicated key-value state machine: an MVCC store
// with etcd v3 semantics on Pebble. It implements machine.StateMachine and
// machine.DurableStateMachine.
//
// Threading: Apply, Snapshot, Restore and Close are never called at once,
// each after the one before (the node's applier and loop, see
// machine.StateMachine); every read method (Range, Revision, HashKV, Size,
// Lease, Leases, Alarms, MemberAttributes, Watch) may be called from any
// goroutine at any time and sees a consistent state: all of an Apply call
// or none of it.
type Store struct {
	options   Options
	logger    *slog.Logger
	directory storeDirectory

	// mu guards current (nil: closed) and committed, the state the
	// committed database holds. Apply commits its batch and sets committed
	// under the write lock, and openView takes its Pebble snapshot and
	// copies committed under the read lock, so a view's state always
	// describes its snapshot without reading the meta keys back (which
	// cost a sixth of the leader's CPU under linearizable ranges). Apply,
	// the only writer after Open, reads committed without the lock.
	mu        sync.RWMutex
	current   *database
	committed storeState
	// alarms are the committed database's alarm flags, kept like
	// committed (set by Apply, Open and Restore; read by Apply).
	alarms alarmFlags

	watches *watchHub
	// disk follows Pebble's background errors (disk_health.go), across
	// the instances Restore switches between.
	disk *diskHealth

	// auth is the auth store as of committed (see auth_state.go),
	// published after each Apply that changed it. tokens resolves the
	// tokens clients present (auth_token.go); simpleTokens records the
	// simple tokens the log carries, and is tokens unless the member uses
	// JWTs (a member configured for JWTs still applies the Authenticate
	// entries of a member that is not, and nobody uses what it records).
	auth         atomic.Pointer[authState]
	tokens       TokenProvider
	simpleTokens *tokenTable
}

// Open opens the store in directory, creating it if it does not exist.
// With options.InMemory the store lives in memory and directory is only a
// name. The returned store has AppliedIndex at what its durable state
// holds.
func Open(directory string, options Options) (*Store, error) {
	options = options.withDefaults()
	fs := vfs.Default
	switch {
	case options.FileSystem != nil:
		fs = options.FileSystem
	case options.InMemory:
		fs = vfs.NewMem()
	}
	if directory == "" {
		directory = "kv"
	}
	health := newDiskHealth(options.Logger)
	health.freeSpace = func() (uint64, error) {
		usage, err := fs.GetDiskUsage(directory)
		return usage.AvailBytes, err
	}
	fs = backoffFS{FS: fs, health: health, sleep: time.Sleep}
	if err := fs.MkdirAll(directory, 0o755); err != nil {
		return nil, fmt.Errorf("kv: create %s: %w", directory, err)
	}
	// The directory's own entry must be durable too, or a crash could
	// take the whole store away with it.
	if err := (storeDirectory{fs: fs, path: fs.PathDir(directory)}).sync(); err != nil {
		return nil, err
	}
	store := &Store{options: options, logger: options.Logger, directory: storeDirectory{fs: fs, path: directory}, disk: health}
	database, err := store.openCurrent()
	if err != nil {
		return nil, err
	}
	state, empty, err := loadState(database.db)
	if err == nil && empty {
		err = fmt.Errorf("kv: instance %s holds no store data", database.directory)
	}
	var auth *authState
	if err == nil {
		auth, err = loadAuthState(database.db)
	}
	var alarms alarmFlags
	if err == nil {
		alarms, err = loadAlarmFlags(database.db)
	}
	if err != nil {
		database.retire(false)
		return nil, errors.Join(err, database.wait())
	}
	store.auth.Store(auth)
	store.simpleTokens = newTokenTable(options.AuthTokenTTL, options.now)
	store.tokens = options.AuthTokens
	if store.tokens == nil {
		store.tokens = store.simpleTokens
	}
	store.current, store.committed, store.alarms = database, state, alarms
	store.watches = newWatchHub(store, state.revision)
	store.logger.Info("kv: store opened", "directory", directory, "applied", state.applied, "revision", state.revision, "compacted", state.compacted)
	return store, nil
}

// openCurrent opens the instance CURRENT-STORE names, or creates the
// first one.
func (s *Store) openCurrent() (*database, error) {
	name, exists, err := s.directory.readCurrent()
	if err != nil {
		return nil, err
	}
	if exists {
		if err := s.directory.removeAllBut(name); err != nil {
			return nil, err
		}
		return openDatabase(s.directory.fs, s.directory.instancePath(name), false, s.options.CacheSize, s.logger, s.disk)
	}
	// No CURRENT-STORE: nothing was ever applied here (Open writes it
	// before returning), so any instance present is a crashed first Open.
	if err := s.directory.removeAllBut(""); err != nil {
		return nil, err
	}
	name, err = s.directory.nextName()
	if err != nil {
		return nil, err
	}
	database, err := createInstance(s.directory, name, initialState(), s.options.CacheSize, s.logger, s.disk)
	if err != nil {
		return nil, err
	}
	if _, err := s.directory.writeCurrent(name); err != nil {
		// Whether or not the rename happened, nothing was applied yet:
		// the next Open starts afresh either way.
		database.retire(false)
		return nil, errors.Join(err, database.wait())
	}
	return database, nil
}

// createInstance creates a new instance holding state and flushes it.
func createInstance(directory storeDirectory, name string, state storeState, cacheSize int64, logger *slog.Logger, health *diskHealth) (*database, error) {
	database, err := openDatabase(directory.fs, directory.instancePath(name), true, cacheSize, logger, health)
	if err != nil {
		return nil, err
	}
	batch := database.db.NewBatch()
	err = state.write(batch)
	if err == nil {
		err = batch.Commit(pebble.NoSync)
	}
	batch.Close()
	if err == nil {
		err = database.db.Flush()
	}
	if err != nil {
		database.retire(true)
		return nil, errors.Join(fmt.Errorf("kv: initialize %s: %w", name, err), database.wait())
	}
	return database, nil
}

// Close flushes and closes the store and cancels its watchers. It must not
// run concurrently with Apply, Snapshot or Restore, and waits for open
// snapshot readers to be closed.
func (s *Store) Close() error {
	s.mu.Lock()
	database := s.current
	s.current = nil
	s.mu.Unlock()
	if database == nil {
		return nil
	}
	s.watches.close()
	database.retire(false)
	return database.wait()
}

// AppliedIndex returns the Raft index of the last entry applied: after
// Open, the last whose effects are durable. The runtime skips entries at
// or below it and does not restore older snapshots.
func (s *Store) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.committed.applied
}

// Revision returns the current revision (1 on an empty store) and the
// revision of the last compaction (-1 before the first, as etcd).
func (s *Store) Revision() (current, compacted int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.committed.revision, s.committed.compacted
}

// acquire returns the database in use, registered as read by the caller,
// who must release it.
func (s *Store) acquire() (*database, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.acquireLocked()
}

// acquireLocked is acquire for a caller holding mu.
func (s *Store) acquireLocked() (*database, error) {
	if s.current == nil || !s.current.acquire() {
		return nil, ErrClosed
	}
	return s.current, nil
}

// view is a consistent, point-in-time read of the store.
type view struct {
	database *database
	snapshot *pebble.Snapshot
	state    storeState
}

// openView takes a consistent view of the store; the caller closes it.
func (s *Store) openView() (*view, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	database, err := s.acquireLocked()
	if err != nil {
		return nil, err
	}
	return &view{database: database, snapshot: database.db.NewSnapshot(), state: s.committed}, nil
}

// close releases the view.
func (v *view) close() {
	v.snapshot.Close()
	v.database.release()
}
