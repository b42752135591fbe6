package raft

import "errors"

// ErrCompacted is returned by Storage when the requested entries were
// discarded by log compaction and only a snapshot covers them.
var ErrCompacted = errors.New("raft: requested index is compacted")

// ErrUnavailable is returned by Storage when the requested entry is beyond
// the last index it holds.
var ErrUnavailable = errors.New("raft: requested index is unavailable")

// ErrSnapshotOutOfDate is returned when installing a snapshot older than the
// one already held.
var ErrSnapshotOutOfDate = errors.New("raft: snapshot is older than the current one")

// Storage is the durable part of a node's log, as the core reads it.
//
// The core only reads from Storage. The runtime writes to it: after it
// receives a Ready it makes Ready.HardState, Ready.Entries and Ready.Snapshot
// durable in its Storage, and only then calls Node.Advance. From that moment
// Storage must return those entries; the core forgets its own copy of them.
//
// The core calls these methods only from within its own methods, so they
// are serialised with each other as the core's calls are (see Core). An
// implementation that is also written by another goroutine (the runtime
// persisting a Ready) must synchronize itself. The index conventions are those of the log: FirstIndex is the
// index of the first entry still held (the snapshot index plus one), and
// Term(FirstIndex()-1) must return the term of the snapshot, so that the
// Log Matching check works at the compaction boundary.
type Storage interface {
	// InitialState returns the persisted hard state and membership, used
	// when a node (re)starts.
	InitialState() (HardState, Membership, error)
	// Entries returns the entries in [low, high), at least one if any
	// exist in the range, and no more than maxBytes in total beyond the
	// first. It returns ErrCompacted if low < FirstIndex() and
	// ErrUnavailable if high > LastIndex()+1.
	Entries(low, high, maxBytes uint64) ([]Entry, error)
	// Term returns the term of the entry at index, which must lie in
	// [FirstIndex()-1, LastIndex()]. Otherwise it returns ErrCompacted or
	// ErrUnavailable.
	Term(index uint64) (uint64, error)
	// FirstIndex returns the index of the first entry that Entries can
	// return (the snapshot index + 1).
	FirstIndex() (uint64, error)
	// LastIndex returns the index of the last durable entry, or the
	// snapshot index if the log is empty.
	LastIndex() (uint64, error)
	// Snapshot returns the most recent snapshot.
	Snapshot() (Snapshot, error)
}
