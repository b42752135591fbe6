package wal

import (
	"sync"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// Log is an open write-ahead log.
//
// Threading contract: every method is safe for concurrent use. Writes
// (Save, Compact, InstallSnapshot, Close) from any number of goroutines are
// queued and made durable in queue order, several at a time with one
// fsync (group commit); each returns once its own records are durable, or
// with an error. Reads (Entries, Term, FirstIndex, LastIndex, HardState,
// SnapshotMetadata) see exactly the durable state: what a write has made
// durable is visible to reads when the write returns, and nothing is
// visible before it is durable.
//
// After any write or fsync error the Log is failed: every later write
// returns an error wrapping ErrLogFailed. Reads keep working. The one
// exception is a full disk met while preparing the next segment, before
// anything is written (ErrNoSpace): the log stays usable, and the write
// may be retried.
type Log struct {
	fileSystem vfs.FS
	dir        string
	options    Options

	// queueMu guards the write queue and the flags below. At most one
	// goroutine at a time, the flusher, takes the queue and commits it.
	queueMu  sync.Mutex
	queue    []*request
	flushing bool
	failed   error // the first write error; non-nil makes the log refuse writes
	closed   bool

	// Only the flusher uses these: nextBatch is the number of the next
	// batch; encoder and accepted are reused from batch to batch; spare,
	// if not nil, receives the next segment file once a background
	// goroutine has prepared it; short is set while the last preparation
	// found the disk full (see takeSpare).
	nextBatch uint32
	encoder   batchEncoder
	accepted  []*request
	spare     chan spareResult
	short     bool

	// mu guards the durable state, which readers share with the flusher.
	mu     sync.RWMutex
	state  logState
	cache  entryCache
	isOpen bool
}

// HardState returns the durable hard state.
func (l *Log) HardState() raft.HardState {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.state.hardState
}

// SnapshotMetadata returns the durable compaction point: the metadata of
// the snapshot that covers every entry up to FirstIndex()-1. It is the
// zero value if the log was never compacted.
func (l *Log) SnapshotMetadata() raft.SnapshotMetadata {
	l.mu.RLock()
	defer l.mu.RUnlock()
	point := l.state.point
	point.Membership = point.Membership.Clone()
	return point
}

// FirstIndex returns the index of the first entry the log holds (the
// compaction point plus one).
func (l *Log) FirstIndex() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.state.point.Index + 1
}

// LastIndex returns the index of the last durable entry, or the compaction
// point if the log holds no entries.
func (l *Log) LastIndex() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.state.lastIndex()
}

// Term returns the term of the entry at index, which must lie in
// [FirstIndex()-1, LastIndex()]; at FirstIndex()-1 it is the term of the
// compaction point. Otherwise it returns raft.ErrCompacted or
// raft.ErrUnavailable.
func (l *Log) Term(index uint64) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	switch {
	case index < l.state.point.Index:
		return 0, raft.ErrCompacted
	case index > l.state.lastIndex():
		return 0, raft.ErrUnavailable
	case index == l.state.point.Index:
		return l.state.point.Term, nil
	}
	return l.state.position(index).term, nil
}

// Segments returns the names of the log's segment files, oldest first.
// Meant for tests and tools.
func (l *Log) Segments() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	names := make([]string, len(l.state.segments))
	for i, segment := range l.state.segments {
		names[i] = segment.name
	}
	return names
}
