package wal

import (
	"fmt"
	"sync"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// Storage serves raft.Storage from a Log, with the log's in-memory cache
// of recent entries in front of the disk, and the latest snapshot (its data
// loaded on demand through Options.SnapshotData).
//
// Threading contract: the raft.Storage methods are called by the goroutine
// that drives the core. Save, ApplySnapshot and Compact are called by the
// runtime after it receives a Ready, from any goroutine, concurrently with
// the core's reads; each is durable when it returns, and its effect is
// visible to reads from then on, never before. After any of them fails with
// ErrLogFailed the node must stop: reopen with OpenStorage to recover what
// is durable. One that fails with ErrNoSpace wrote nothing and may be
// retried (see Log.Save).
type Storage struct {
	log          *Log
	snapshotData func(raft.SnapshotMetadata) ([]byte, error)

	// mu guards snapshot. Writers of the snapshot hold it across the log
	// write so that Snapshot never returns data older than the log's
	// compaction point.
	mu       sync.Mutex
	snapshot raft.Snapshot
	// hasData says whether snapshot.Data is loaded for the log's current
	// compaction point.
	hasData bool
}

var _ raft.Storage = (*Storage)(nil)

// OpenStorage opens (and recovers) the log in dir with Open and serves it
// as raft.Storage. A *CorruptionError means the node must not start.
func OpenStorage(fileSystem vfs.FS, dir string, options Options) (*Storage, error) {
	log, err := Open(fileSystem, dir, options)
	if err != nil {
		return nil, err
	}
	return &Storage{log: log, snapshotData: options.SnapshotData}, nil
}

// Log returns the log under the storage.
func (s *Storage) Log() *Log { return s.log }

// InitialState implements raft.Storage: the durable hard state and the
// membership of the latest snapshot (the log's compaction point).
func (s *Storage) InitialState() (raft.HardState, raft.Membership, error) {
	return s.log.HardState(), s.log.SnapshotMetadata().Membership, nil
}

// Entries implements raft.Storage; see Log.Entries.
func (s *Storage) Entries(low, high, maxBytes uint64) ([]raft.Entry, error) {
	return s.log.Entries(low, high, maxBytes)
}

// Term implements raft.Storage; see Log.Term.
func (s *Storage) Term(index uint64) (uint64, error) { return s.log.Term(index) }

// FirstIndex implements raft.Storage.
func (s *Storage) FirstIndex() (uint64, error) { return s.log.FirstIndex(), nil }

// LastIndex implements raft.Storage.
func (s *Storage) LastIndex() (uint64, error) { return s.log.LastIndex(), nil }

// Snapshot implements raft.Storage: the snapshot at the log's compaction
// point. After a restart its data comes from Options.SnapshotData; without
// that option only the metadata is returned.
func (s *Storage) Snapshot() (raft.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	point := s.log.SnapshotMetadata()
	if s.hasData && s.snapshot.Metadata.Index == point.Index {
		return s.snapshot, nil
	}
	s.snapshot = raft.Snapshot{Metadata: point}
	s.hasData = false
	if point.Index == 0 || s.snapshotData == nil {
		return s.snapshot, nil
	}
	data, err := s.snapshotData(point)
	if err != nil {
		return raft.Snapshot{}, fmt.Errorf("wal: load data of snapshot %d (term %d): %w", point.Index, point.Term, err)
	}
	// Not kept: a snapshot is as large as the state machine, and is needed
	// only when a follower must be caught up; it is loaded again then.
	return raft.Snapshot{Metadata: point, Data: data}, nil
}

// keep records snapshot as the latest, holding its data in memory only
// when it cannot be loaded again (no Options.SnapshotData). Callers hold mu.
func (s *Storage) keep(snapshot raft.Snapshot) {
	if s.snapshotData != nil {
		snapshot.Data = nil
	}
	s.snapshot, s.hasData = snapshot, snapshot.Data != nil
}

// Save makes the hard state (unless empty) and entries of a Ready durable
// with one fsync (shared with concurrent writers); see Log.Save.
func (s *Storage) Save(hardState raft.HardState, entries []raft.Entry) error {
	return s.log.Save(hardState, entries)
}

// ApplySnapshot records a snapshot received from the leader: the whole log
// is replaced by it and restarts after its index. The snapshot's data must
// already be durable elsewhere (snap.Store.Save) before this is called,
// because the log no longer holds the entries it replaces. Returns
// raft.ErrSnapshotOutOfDate if the log is compacted to its index or beyond.
func (s *Storage) ApplySnapshot(snapshot raft.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.log.InstallSnapshot(snapshot.Metadata); err != nil {
		return err
	}
	s.keep(snapshot)
	return nil
}

// Compact records that the application took snapshot (already durable
// elsewhere, for example with snap.Store.Save) and discards the entries it
// covers; entries after its index are kept. The snapshot's index must not
// exceed LastIndex and its term must be the term of the entry at that
// index. Returns raft.ErrSnapshotOutOfDate if the log is compacted to its
// index or beyond.
func (s *Storage) Compact(snapshot raft.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	index := snapshot.Metadata.Index
	term, err := s.log.Term(index)
	if err == raft.ErrCompacted {
		return raft.ErrSnapshotOutOfDate
	}
	if err != nil {
		return fmt.Errorf("wal: compact to %d: %w", index, err)
	}
	if term != snapshot.Metadata.Term {
		return fmt.Errorf("wal: compact to %d: snapshot term %d differs from the log's term %d there", index, snapshot.Metadata.Term, term)
	}
	if err := s.log.Compact(snapshot.Metadata); err != nil {
		return err
	}
	// Without its data (nil), or with Options.SnapshotData, the snapshot
	// is loaded when the core asks for it: a large image need not stay in
	// memory between snapshots.
	s.keep(snapshot)
	return nil
}

// Close closes the log.
func (s *Storage) Close() error { return s.log.Close() }
