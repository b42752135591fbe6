package raft

import (
	"fmt"
	"sync"
)

// MemoryStorage is a Storage held in memory. The simulator uses it as the
// "disk" of each node: what was written to it survives a simulated crash,
// what was not is gone. It is safe for concurrent use.
type MemoryStorage struct {
	mu        sync.Mutex
	hardState HardState
	snapshot  Snapshot
	// entries[0] is a sentinel holding the snapshot's index and term, so
	// that Term works at the compaction boundary; entries[i] has index
	// entries[0].Index + i.
	entries []Entry
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{entries: make([]Entry, 1)}
}

// InitialState implements Storage.
func (s *MemoryStorage) InitialState() (HardState, Membership, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hardState, s.snapshot.Metadata.Membership.Clone(), nil
}

// SetHardState records the hard state as durable.
func (s *MemoryStorage) SetHardState(state HardState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hardState = state
}

// HardState returns the durable hard state.
func (s *MemoryStorage) HardState() HardState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hardState
}

func (s *MemoryStorage) offset() uint64    { return s.entries[0].Index }
func (s *MemoryStorage) lastIndex() uint64 { return s.offset() + uint64(len(s.entries)) - 1 }

// Entries implements Storage.
func (s *MemoryStorage) Entries(low, high, maxBytes uint64) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if low <= s.offset() {
		return nil, ErrCompacted
	}
	if high > s.lastIndex()+1 {
		return nil, ErrUnavailable
	}
	if low >= high {
		return nil, nil
	}
	selected := s.entries[low-s.offset() : high-s.offset()]
	return limitSize(selected, maxBytes), nil
}

// Term implements Storage.
func (s *MemoryStorage) Term(index uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index < s.offset() {
		return 0, ErrCompacted
	}
	if index > s.lastIndex() {
		return 0, ErrUnavailable
	}
	return s.entries[index-s.offset()].Term, nil
}

// FirstIndex implements Storage.
func (s *MemoryStorage) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offset() + 1, nil
}

// LastIndex implements Storage.
func (s *MemoryStorage) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastIndex(), nil
}

// Snapshot implements Storage.
func (s *MemoryStorage) Snapshot() (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshot, nil
}

// Append makes entries durable. They must be contiguous; an entry that
// overlaps existing ones replaces them and everything after (a follower's
// conflicting suffix, Raft §5.3). Entries already covered by the snapshot
// are ignored.
func (s *MemoryStorage) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	first := s.offset() + 1
	if last := entries[len(entries)-1].Index; last < first {
		return nil
	}
	if entries[0].Index < first {
		entries = entries[first-entries[0].Index:]
	}
	if entries[0].Index > s.lastIndex()+1 {
		return fmt.Errorf("raft: memory storage: append at %d leaves a gap after last index %d", entries[0].Index, s.lastIndex())
	}
	keep := entries[0].Index - s.offset()
	if keep < uint64(len(s.entries)) {
		// Truncating: copy, so that slices handed out by Entries earlier
		// never see the replaced entries change under them.
		s.entries = append(s.entries[:keep:keep], entries...)
	} else {
		s.entries = append(s.entries, entries...)
	}
	return nil
}

// ApplySnapshot replaces the storage's contents with snapshot: the log is
// emptied and restarts after the snapshot's index.
func (s *MemoryStorage) ApplySnapshot(snapshot Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if snapshot.Metadata.Index <= s.snapshot.Metadata.Index {
		return ErrSnapshotOutOfDate
	}
	s.snapshot = snapshot
	s.entries = []Entry{{Index: snapshot.Metadata.Index, Term: snapshot.Metadata.Term}}
	return nil
}

// Compact records snapshot as the storage's latest snapshot and discards
// the entries it covers (up to and including its index). The runtime calls
// it after it captured its state machine at snapshot.Metadata.Index (an
// applied index) and made the snapshot durable; the leader sends this
// snapshot to followers that need the discarded entries.
func (s *MemoryStorage) Compact(snapshot Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	index := snapshot.Metadata.Index
	if index <= s.offset() {
		return ErrCompacted
	}
	if index > s.lastIndex() {
		return fmt.Errorf("raft: memory storage: compact %d is beyond last index %d", index, s.lastIndex())
	}
	at := index - s.offset()
	if term := s.entries[at].Term; term != snapshot.Metadata.Term {
		return fmt.Errorf("raft: memory storage: snapshot at %d has term %d, the log has %d", index, snapshot.Metadata.Term, term)
	}
	remaining := make([]Entry, 1, 1+uint64(len(s.entries))-at-1)
	remaining[0] = Entry{Index: index, Term: s.entries[at].Term}
	s.entries = append(remaining, s.entries[at+1:]...)
	s.snapshot = snapshot
	return nil
}

// limitSize returns the longest prefix of entries whose total Size is at
// most maxBytes, but always at least one entry.
func limitSize(entries []Entry, maxBytes uint64) []Entry {
	if len(entries) == 0 {
		return entries
	}
	total := entries[0].Size()
	for i := 1; i < len(entries); i++ {
		total += entries[i].Size()
		if total > maxBytes {
			return entries[:i]
		}
	}
	return entries
}
