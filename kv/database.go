package kv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// database is one open Pebble instance and the readers using it. Restore
// replaces the store's database with a new one; the old one is closed and
// its directory removed once the last reader has released it.
type database struct {
	db        *pebble.DB
	fs        vfs.FS
	directory string
	logger    *slog.Logger
	health    *diskHealth // nil: not followed

	// inlineValues, while above zero, has every flush and compaction write
	// values inside the tables again instead of in blob files (see
	// valueSeparation): each running Defragment counts in it, so that its
	// rewrite leaves no blob file behind, and with it none of their
	// garbage.
	inlineValues *atomic.Int32
	// compactingHistory is set while compactHistory runs, so that at most
	// one runs; background ends with retire, which stops it.
	compactingHistory atomic.Bool
	background        context.Context
	stopBackground    context.CancelFunc

	// index caches the current table's metadata for the applier; nil
	// until the first Apply (see currentIndex).
	index *currentIndex

	mu         sync.Mutex
	references int
	retired    bool
	removeData bool
	closeError error
	closed     chan struct{}
}

// memTableSize is the size of Pebble's memtables, and memTableReservation
// what they hold back from its block cache (Pebble's default
// MemTableStopWritesThreshold is 2).
const (
	memTableSize        = 16 << 20
	memTableReservation = 2 * memTableSize
)

// Value separation (Pebble's blob files): a value of at least
// separatedValueMinimum bytes is written, at flush, to a blob file, and
// the tables keep a reference to it, so compactions move the reference,
// not the value. Every put writes its value twice (current record and
// history), and a store of large values spent most of its compaction work
// moving them: with 400,000 keys of 1 KiB, random puts from 1,000 clients
// ran at 3,275 ops/s without blob files and 4,915 with them (a first build
// that separated values from 512 bytes, medians of three alternating runs
// each; docs/benchmark-method.md has the rest), and put and range on
// 256-byte values did not change. A blob value that no table references any more (an
// overwritten current record, a version compaction removed) is garbage
// until Pebble rewrites its file, which it does in the background once
// more than separatedGarbageRatio of all blob values are garbage and the
// file is separatedRewriteAge old; Size counts that garbage, and
// Defragment gives it all back (database.inlineValues).
const (
	separatedValueMinimum   = 256
	separatedReferenceDepth = 10
	separatedGarbageRatio   = 0.2
	separatedRewriteAge     = time.Minute
)

// valueSeparation returns the policy Pebble reads at each flush and
// compaction: blob files, unless inline is above zero.
func valueSeparation(inline *atomic.Int32) func() pebble.ValueSeparationPolicy {
	return func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{
			Enabled:               inline.Load() == 0,
			MinimumSize:           separatedValueMinimum,
			MaxBlobReferenceDepth: separatedReferenceDepth,
			RewriteMinimumAge:     separatedRewriteAge,
			TargetGarbageRatio:    separatedGarbageRatio,
		}
	}
}

// openDatabase opens (creating if asked) the Pebble instance in directory.
// Pebble's background errors go to health (nil: Pebble logs them itself).
func openDatabase(fs vfs.FS, directory string, create bool, cacheSize int64, logger *slog.Logger, health *diskHealth) (*database, error) {
	options := &pebble.Options{
		// Pebble reserves its memtables' memory out of the block cache
		// (MemTableStopWritesThreshold of them at most, 2 by default):
		// a cache no larger than the memtables caches nothing, and every
		// lookup then reads its tables' index and filter blocks from the
		// file again. So the memtables get their reservation on top of the
		// block cache asked for. (The memtables' memory is allocated
		// either way; the reservation only keeps the cache from using it.)
		CacheSize:          cacheSize + memTableReservation,
		FS:                 fs,
		DisableWAL:         true, // the Raft log is the write-ahead log
		ErrorIfNotExists:   !create,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{logger},
		// Larger memtables and a deeper level 0 than Pebble's defaults (4
		// MiB, 4 and 12): every put writes its value twice (the current
		// record and the history), so compactions were a quarter of the
		// leader's CPU under lockstep bench put --clients 1000. These
		// settings cut a follower's CPU per put by about a sixth.
		MemTableSize:          memTableSize,
		L0CompactionThreshold: 8,
		L0StopWritesThreshold: 32,
	}
	// A Bloom filter in every table (Pebble keeps none by default): each
	// put looks up its key's current version, and a key written for the
	// first time is in no table, so without filters that lookup searched
	// the index of every table in level 0 and one per lower level.
	options.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	inlineValues := new(atomic.Int32)
	options.Experimental.ValueSeparationPolicy = valueSeparation(inlineValues)
	if health != nil {
		options.EventListener = health.listener()
	}
	db, err := pebble.Open(directory, options)
	if err != nil {
		return nil, fmt.Errorf("kv: open pebble in %s: %w", directory, err)
	}
	background, stopBackground := context.WithCancel(context.Background())
	return &database{db: db, fs: fs, directory: directory, logger: logger, health: health, inlineValues: inlineValues,
		background: background, stopBackground: stopBackground, closed: make(chan struct{})}, nil
}

// acquire registers a reader; it fails once the database is retired.
func (d *database) acquire() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.retired {
		return false
	}
	d.references++
	return true
}

// release ends a reader's use; the last release of a retired database
// closes it.
func (d *database) release() {
	d.mu.Lock()
	d.references--
	closeNow := d.retired && d.references == 0
	d.mu.Unlock()
	if closeNow {
		d.close()
	}
}

// retire stops new readers and closes the database when the current ones
// are done; with removeData its directory is deleted after closing.
func (d *database) retire(removeData bool) {
	d.mu.Lock()
	if d.retired {
		d.mu.Unlock()
		return
	}
	d.retired = true
	d.removeData = removeData
	d.stopBackground()
	closeNow := d.references == 0
	d.mu.Unlock()
	if closeNow {
		d.close()
	}
}

// close closes Pebble (after a flush, because its WAL is off) and removes
// the directory if asked.
func (d *database) close() {
	var err error
	switch {
	case d.removeData:
	case d.health != nil:
		err = d.flushUnlessFull()
	default:
		err = d.db.Flush()
	}
	if closeErr := d.db.Close(); err == nil {
		err = closeErr
	}
	if d.removeData {
		if removeErr := d.fs.RemoveAll(d.directory); removeErr != nil {
			d.logger.Warn("kv: remove replaced store directory", "directory", d.directory, "error", removeErr)
		}
	}
	d.mu.Lock()
	d.closeError = err
	d.mu.Unlock()
	close(d.closed)
}

// wait blocks until the database is closed and returns the close error.
func (d *database) wait() error {
	<-d.closed
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closeError
}

// pebbleLogger forwards Pebble's messages to slog.
type pebbleLogger struct{ logger *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.logger.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.logger.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	message := fmt.Sprintf(format, args...)
	l.logger.Error(message, "component", "pebble")
	panic("kv: pebble: " + message)
}

// flushPollInterval is how often a flush that is waited for looks
// whether the disk filled meanwhile.
const flushPollInterval = 20 * time.Millisecond

// flushUnlessFull flushes before closing, but gives the flush up once the
// disk is full or the flush fails: Pebble would retry it until space
// returns (or, for another failure such as EIO or a store directory
// removed underneath it, for ever, and the member would never stop), and
// what it would write is in the Raft log, replayed from the store's
// applied index on the next start.
func (d *database) flushUnlessFull() error {
	err := d.flushOrFull()
	switch {
	case errors.Is(err, ErrDiskFull):
		d.logger.Warn("kv: closing without a flush: the disk is full", "directory", d.directory)
		return nil
	case errors.Is(err, errFlushFailed):
		d.logger.Error("kv: closing without a flush: the flush failed; the Raft log replays what it held at the next start", "directory", d.directory, "error", err)
		return err
	}
	return err
}

// errFlushFailed is wrapped by flushOrFull's error when the flush it waited
// for failed.
var errFlushFailed = errors.New("kv: flush failed")

// flushOrFull flushes the memtables and waits for the flush, but only
// while the disk is not full and the flush does not fail: once the disk is
// full (already, or the flush finds it so), it returns the error wrapping
// ErrDiskFull at once, and once a flush fails for another reason, an error
// wrapping errFlushFailed and the cause. Either way it leaves the flush to
// Pebble, which retries it. Pebble's own Flush would wait until a retry
// succeeds, which for a failing disk is never.
func (d *database) flushOrFull() error {
	if d.health == nil {
		return d.db.Flush()
	}
	if full := d.health.fullError(); full != nil {
		return full
	}
	failures := d.health.flushFailureCount()
	done, err := d.db.AsyncFlush()
	if err != nil {
		return err
	}
	ticker := time.NewTicker(flushPollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-ticker.C:
			select {
			case <-done: // a retry succeeded meanwhile
				return nil
			default:
			}
			if full := d.health.fullError(); full != nil {
				return full
			}
			if failure := d.health.failedFlushSince(failures); failure != nil {
				return fmt.Errorf("%w: %w", errFlushFailed, failure)
			}
		}
	}
}
