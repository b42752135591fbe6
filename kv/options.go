package kv

import (
	"io"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configures a Store. Every replica of one cluster must use the
// same MaxTxnOps: it decides which commands fail, so it is part of the
// replicated behavior.
type Options struct {
	// InMemory keeps Pebble on an in-memory file system (tests); the
	// directory given to Open is then only a name.
	InMemory bool
	// Logger receives the store's and Pebble's messages; nil discards them.
	Logger *slog.Logger
	// MaxTxnOps is the largest number of operations (and compares) one Txn
	// may carry, as etcd's --max-txn-ops; 0 means 128.
	MaxTxnOps int
	// WatchBufferSize is how many responses a watcher buffers before Apply
	// stops sending to it and it catches up from the store instead; 0 means
	// 4. A response carries all of one Apply call's events for the watcher,
	// so the buffer counts Apply calls, not events. Each watcher's buffer
	// is allocated whole: with 10,000 watchers on one member (bench
	// watch-fanout), 128 responses each held the member's peak memory at
	// about 270 MiB, and 16 at about 84 MiB against 70 MiB with 4, at the
	// same events/s, delivery latency and CPU; a watcher read as fast as
	// Apply writes (one goroutine per stream forwards them) needs one or two.
	WatchBufferSize int
	// CacheSize is Pebble's block cache in bytes; 0 means 16 MiB. Pebble
	// reads its files through the operating system's page cache, so a
	// small block cache costs CPU (blocks decoded again), not disk reads;
	// 64 MiB raised a member's peak memory by about 30 MiB under lockstep
	// bench with no throughput to show for it.
	CacheSize int64
	// CurrentIndexKeys is how many keys the in-memory index of current
	// versions holds, which spares a put its read of the version it
	// replaces (see currentIndex): 0 means 4,194,304 (about 67 bytes a
	// key and the key itself), negative turns the index off. Beyond it,
	// puts of keys not in the index read the store as without one.
	CurrentIndexKeys int
	// AuthTokenTTL is how long a simple token lives after its last use,
	// as etcd's --auth-token-ttl; 0 means DefaultAuthTokenTTL.
	AuthTokenTTL time.Duration
	// AuthTokens is the kind of token the store resolves (and the server
	// issues), as ParseAuthToken returns it; nil means simple tokens.
	AuthTokens TokenProvider
	// ObserveCommit, if set, is called after each Apply's batch is
	// committed to Pebble, with how long the commit took, the wait for the
	// store's lock included (etcd's backend commit duration; the commit
	// does not sync, since the Raft log is the write-ahead log). It runs on
	// the applier's goroutine: keep it short.
	ObserveCommit func(elapsed time.Duration)

	// FileSystem replaces the file system Pebble uses, for fault
	// injection (Pebble's vfs/errorfs, crashable in-memory file systems);
	// nil means the operating system's (or memory's with InMemory).
	FileSystem vfs.FS
	// now replaces the clock of token expiry (tests).
	now func() time.Time
}

const (
	defaultMaxTxnOps       = 128
	defaultWatchBufferSize = 4
	defaultCacheSize       = 16 << 20
)

// withDefaults returns options with zero values replaced by defaults.
func (options Options) withDefaults() Options {
	if options.Logger == nil {
		options.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if options.MaxTxnOps <= 0 {
		options.MaxTxnOps = defaultMaxTxnOps
	}
	if options.WatchBufferSize <= 0 {
		options.WatchBufferSize = defaultWatchBufferSize
	}
	if options.CacheSize <= 0 {
		options.CacheSize = defaultCacheSize
	}
	if options.CurrentIndexKeys == 0 {
		options.CurrentIndexKeys = defaultCurrentIndexKeys
	}
	return options
}
