package wal

import (
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// Options configure a Log. The zero value selects the defaults.
type Options struct {
	// SegmentSize is the size to which each segment is preallocated, and
	// at which the log rolls over to a new segment (a single batch larger
	// than this still goes into one segment). Default 64 MiB.
	SegmentSize int64
	// CacheBytes bounds the entries kept in memory for reads (counted by
	// raft.Entry.Size). Default 4 MiB: enough for a leader to feed
	// followers that are a second or so behind from memory under heavy
	// load; one further behind is fed from the segments. A received
	// entry's data shares its network frame, so the memory held is
	// larger than the count (see docs/storage.md).
	CacheBytes uint64
	// SnapshotData, used only by Storage, loads the data of the snapshot
	// whose metadata the log records (for example from a snap.Store), each
	// time Storage.Snapshot is called: Storage then keeps no copy, since a
	// snapshot is as large as the state machine. If nil, Storage keeps the
	// data given to ApplySnapshot or Compact, and returns metadata only
	// until one of them is called in this process.
	SnapshotData func(raft.SnapshotMetadata) ([]byte, error)
	// ObserveSync, if set, is called after each batch of records is
	// written to its segment and fsynced, with how long the write and the
	// fsync took, for metrics. Saves that write nothing at once (a hard
	// state that changes only the commit index, see Log.Save) are not
	// observed. It is called on the goroutine that wrote the batch, with
	// the log's write lock held: it must return at once and be safe for
	// concurrent use.
	ObserveSync func(elapsed time.Duration)

	// inlinePreparation makes the writer prepare the next segment itself
	// rather than in a background goroutine, so that the order of
	// file-system operations is deterministic (for crash tests).
	inlinePreparation bool
}

const (
	defaultSegmentSize = 64 << 20
	defaultCacheBytes  = 4 << 20
)

func (o Options) withDefaults() Options {
	if o.SegmentSize <= 0 {
		o.SegmentSize = defaultSegmentSize
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = defaultCacheBytes
	}
	return o
}
