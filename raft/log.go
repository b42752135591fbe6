package raft

import (
	"errors"
	"fmt"
	"math"
)

// raftLog is the core's view of the log: the durable entries in storage
// followed by the entries appended since the last Advance, which are not
// durable yet (unstable). An unstable suffix may replace a suffix of the
// durable entries (a follower's conflicting entries, Raft §5.3); the
// replacement becomes durable when the runtime persists Ready.Entries.
type raftLog struct {
	storage Storage
	// unstable holds entries at indexes unstableOffset, unstableOffset+1, ...
	// that the runtime has not yet made durable.
	unstable       []Entry
	unstableOffset uint64
	// committed is the highest index known to be committed (Raft §5.3).
	committed uint64
	// applied is the highest index handed to the application and
	// acknowledged by Advance.
	applied uint64
	// pendingSnapshot is a snapshot received from the leader (InstallSnapshot)
	// and not yet persisted: it replaces the whole log up to its index.
	pendingSnapshot *Snapshot

	// async is Config.AsyncPersistence: entries are applied only once
	// durable, and the fields below track writes in flight.
	async bool
	// takenThrough is the last index handed out in a Ready; the unstable
	// entries after it are still to be handed out.
	takenThrough uint64
	// snapshotTaken says pendingSnapshot was handed out.
	snapshotTaken bool
	// writes are the writes handed out and not yet reported durable, in
	// order.
	writes []pendingWrite
}

func newRaftLog(storage Storage, committed, applied uint64) *raftLog {
	last, err := storage.LastIndex()
	mustStorage(err)
	first, err := storage.FirstIndex()
	mustStorage(err)
	// Entries covered by the snapshot are applied by construction.
	applied = max(applied, first-1)
	committed = max(committed, applied)
	if committed > last {
		panic(fmt.Sprintf("raft: persisted commit index %d is beyond the last durable entry %d: the log lost entries it had acknowledged", committed, last))
	}
	return &raftLog{storage: storage, unstableOffset: last + 1, takenThrough: last, committed: committed, applied: applied}
}

// mustStorage panics on a storage error the core cannot recover from. The
// Storage contract lists the only errors the core expects (ErrCompacted,
// ErrUnavailable), which callers handle before calling this.
func mustStorage(err error) {
	if err != nil {
		panic(fmt.Sprintf("raft: storage failed: %v", err))
	}
}

func (l *raftLog) firstIndex() uint64 {
	if l.pendingSnapshot != nil {
		return l.pendingSnapshot.Metadata.Index + 1
	}
	first, err := l.storage.FirstIndex()
	mustStorage(err)
	return first
}

func (l *raftLog) lastIndex() uint64 {
	if n := len(l.unstable); n > 0 {
		return l.unstableOffset + uint64(n) - 1
	}
	if l.pendingSnapshot != nil {
		return l.pendingSnapshot.Metadata.Index
	}
	last, err := l.storage.LastIndex()
	mustStorage(err)
	return last
}

// term returns the term of the entry at index, or an error if it is
// compacted (ErrCompacted) or beyond the log (ErrUnavailable).
func (l *raftLog) term(index uint64) (uint64, error) {
	if snapshot := l.pendingSnapshot; snapshot != nil && index <= snapshot.Metadata.Index {
		if index == snapshot.Metadata.Index {
			return snapshot.Metadata.Term, nil
		}
		return 0, ErrCompacted
	}
	if index >= l.unstableOffset {
		position := index - l.unstableOffset
		if position < uint64(len(l.unstable)) {
			return l.unstable[position].Term, nil
		}
		return 0, ErrUnavailable
	}
	if index == 0 {
		return 0, nil
	}
	term, err := l.storage.Term(index)
	if err != nil && !errors.Is(err, ErrCompacted) && !errors.Is(err, ErrUnavailable) {
		mustStorage(err)
	}
	return term, err
}

// termOrZero returns the term at index, or 0 when it is not in the log.
func (l *raftLog) termOrZero(index uint64) uint64 {
	term, err := l.term(index)
	if err != nil {
		return 0
	}
	return term
}

func (l *raftLog) lastTerm() uint64 {
	term, err := l.term(l.lastIndex())
	mustStorage(err)
	return term
}

// matchTerm reports whether the log holds an entry at index with term.
func (l *raftLog) matchTerm(index, term uint64) bool {
	actual, err := l.term(index)
	return err == nil && actual == term
}

// isUpToDate implements the election restriction (Raft §5.4.1): a log is
// at least as up to date as ours if its last term is higher, or equal with
// a last index at least as large.
func (l *raftLog) isUpToDate(lastIndex, lastTerm uint64) bool {
	ourTerm := l.lastTerm()
	return lastTerm > ourTerm || (lastTerm == ourTerm && lastIndex >= l.lastIndex())
}

// findConflict returns the index of the first entry whose term differs from
// ours or which lies beyond our last index, or 0 if all match.
func (l *raftLog) findConflict(entries []Entry) uint64 {
	for _, entry := range entries {
		if !l.matchTerm(entry.Index, entry.Term) {
			return entry.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index at or below index whose
// term is at most term, with that term. It is the rejection hint: no entry
// above it can match an entry of term or earlier (terms only grow along a
// log), so the leader may skip straight past them.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		entryTerm, err := l.term(index)
		if err != nil {
			// Compacted: everything up to here is committed and matches.
			return index, 0
		}
		if entryTerm <= term {
			return index, entryTerm
		}
	}
	return 0, 0
}

// appendFollower implements the receiver side of AppendEntries (Raft
// Figure 2): if the log holds an entry at prevIndex with prevTerm, it
// removes any conflicting suffix and appends the new entries, returning the
// index of the last new entry and true. Otherwise it returns false.
func (l *raftLog) appendFollower(prevIndex, prevTerm uint64, entries []Entry) (lastNew uint64, written []Entry, ok bool) {
	if !l.matchTerm(prevIndex, prevTerm) {
		return 0, nil, false
	}
	lastNew = prevIndex + uint64(len(entries))
	conflict := l.findConflict(entries)
	switch {
	case conflict == 0 && mutated(mutationTruncateWithoutConflict) && len(entries) > 0 && lastNew < l.lastIndex():
		written = entries
		l.appendLeader(written)
	case conflict == 0:
		// Everything matches: a duplicate or a prefix of what we hold.
		// Our later entries must stay (they may be from this leader and
		// already acknowledged).
	case mutated(mutationKeepConflictingEntries) && conflict > l.committed:
		// Only entries beyond our last index are written.
		if beyond := l.lastIndex() + 1; beyond <= lastNew {
			written = entries[beyond-entries[0].Index:]
			l.appendLeader(written)
		}
	case conflict <= l.committed:
		panic(fmt.Sprintf("raft: entry %d conflicts with a committed entry (commit %d): a committed entry would be truncated", conflict, l.committed))
	default:
		written = entries[conflict-entries[0].Index:]
		l.appendLeader(written)
	}
	return lastNew, written, true
}

// appendLeader appends entries, which start at most one past our last
// index; a suffix from their first index on is replaced.
func (l *raftLog) appendLeader(entries []Entry) {
	if len(entries) == 0 {
		return
	}
	first := entries[0].Index
	if first <= l.committed {
		panic(fmt.Sprintf("raft: appending at %d would overwrite committed entries (commit %d)", first, l.committed))
	}
	switch {
	case first == l.unstableOffset+uint64(len(l.unstable)):
		l.unstable = append(l.unstable, entries...)
	case first <= l.unstableOffset:
		// Replace part of the durable log: the new entries shadow it until
		// they are persisted, which truncates the durable suffix.
		l.unstable = append([]Entry(nil), entries...)
		l.unstableOffset = first
	default:
		keep := first - l.unstableOffset
		l.unstable = append(l.unstable[:keep:keep], entries...)
	}
	l.clipWrites(first)
}

// slice returns entries in [low, high), at most maxBytes beyond the first.
func (l *raftLog) slice(low, high, maxBytes uint64) ([]Entry, error) {
	if low >= high {
		return nil, nil
	}
	if low < l.firstIndex() {
		return nil, ErrCompacted
	}
	if high > l.lastIndex()+1 {
		panic(fmt.Sprintf("raft: slice [%d, %d) beyond last index %d", low, high, l.lastIndex()))
	}
	var result []Entry
	if low < l.unstableOffset {
		stored, err := l.storage.Entries(low, min(high, l.unstableOffset), maxBytes)
		if errors.Is(err, ErrCompacted) {
			return nil, err
		}
		mustStorage(err)
		if uint64(len(stored)) < min(high, l.unstableOffset)-low {
			return stored, nil // byte limit reached
		}
		result = stored
	}
	if high > l.unstableOffset {
		from := max(low, l.unstableOffset) - l.unstableOffset
		fresh := l.unstable[from : high-l.unstableOffset]
		if len(result) > 0 {
			combined := make([]Entry, 0, len(result)+len(fresh))
			combined = append(append(combined, result...), fresh...)
			result = combined
		} else {
			result = fresh
		}
	}
	return limitSize(result, maxBytes), nil
}

// size returns the size (Entry.Size) of the entries [low, high), without
// copying the ones not yet stable; ErrCompacted if low is compacted.
func (l *raftLog) size(low, high uint64) (uint64, error) {
	var bytes uint64
	if low < l.unstableOffset {
		stored, err := l.storage.Entries(low, min(high, l.unstableOffset), math.MaxUint64)
		if errors.Is(err, ErrCompacted) {
			return 0, err
		}
		mustStorage(err)
		for _, entry := range stored {
			bytes += entry.Size()
		}
	}
	for index := max(low, l.unstableOffset); index < high; index++ {
		bytes += l.unstable[index-l.unstableOffset].Size()
	}
	return bytes, nil
}

// commitTo raises the commit index; it never lowers it.
func (l *raftLog) commitTo(index uint64) bool {
	if index <= l.committed {
		return false
	}
	if index > l.lastIndex() {
		panic(fmt.Sprintf("raft: commit %d is beyond last index %d", index, l.lastIndex()))
	}
	l.committed = index
	return true
}

// durableLastIndex is the last index of the durable part of the log.
func (l *raftLog) durableLastIndex() uint64 { return l.unstableOffset - 1 }

// hasEntriesToApply reports whether committed entries await application.
// Only entries that are durable locally, or that become durable in the same
// Ready (the runtime persists before it applies), are applied.
func (l *raftLog) hasEntriesToApply() bool { return l.applyLimit() > l.appliedOrSnapshot() }

// applyLimit is the last index that may be applied: the commit index, and
// with asynchronous persistence also the durable log's end (a runtime
// applies while later writes are in flight, and a restarted node must
// never have applied state beyond its log).
func (l *raftLog) applyLimit() uint64 {
	if mutated(mutationApplyUncommitted) {
		if l.async {
			return l.durableLastIndex()
		}
		return l.lastIndex()
	}
	if l.async {
		return min(l.committed, l.durableLastIndex())
	}
	return l.committed
}

// appliedOrSnapshot is the index after which entries are applied: a pending
// snapshot is applied, as a whole, before any entry after it.
func (l *raftLog) appliedOrSnapshot() uint64 {
	if l.pendingSnapshot != nil {
		return max(l.applied, l.pendingSnapshot.Metadata.Index)
	}
	return l.applied
}

// entriesToApply returns the committed entries not yet applied.
func (l *raftLog) entriesToApply(maxBytes uint64) []Entry {
	if !l.hasEntriesToApply() {
		return nil
	}
	entries, err := l.slice(l.appliedOrSnapshot()+1, l.applyLimit()+1, maxBytes)
	mustStorage(err)
	return entries
}

// stableTo records that the runtime made the unstable entries up to index
// durable.
func (l *raftLog) stableTo(index uint64) {
	if index < l.unstableOffset {
		return
	}
	count := index - l.unstableOffset + 1
	l.unstable = l.unstable[count:]
	if len(l.unstable) == 0 {
		l.unstable = nil
	}
	l.unstableOffset = index + 1
}

// restore replaces the log with a snapshot received from the leader. The
// snapshot is committed (a leader only sends committed state), so the commit
// index moves to it; whatever the log held is discarded when the snapshot is
// persisted (Storage.ApplySnapshot).
func (l *raftLog) restore(snapshot Snapshot) {
	l.pendingSnapshot = &snapshot
	l.unstable = nil
	l.unstableOffset = snapshot.Metadata.Index + 1
	l.committed = snapshot.Metadata.Index
	l.snapshotTaken = false
	l.clipWrites(snapshot.Metadata.Index + 1)
}

// snapshotPersisted records that the pending snapshot is durable and was
// restored into the application.
func (l *raftLog) snapshotPersisted(index uint64) {
	if l.pendingSnapshot == nil || l.pendingSnapshot.Metadata.Index != index {
		panic(fmt.Sprintf("raft: Advance: snapshot %d was not pending", index))
	}
	l.pendingSnapshot = nil
	l.applied = max(l.applied, index)
}
