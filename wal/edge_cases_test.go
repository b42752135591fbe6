package wal

import (
	"errors"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// TestCompactToTheLastIndex checks that a snapshot may cover every entry
// the log holds (a node snapshots at its applied index, which is often
// the last index): the log becomes empty after the point, Term of the
// point is the snapshot's term, appending continues after it, and all of
// this survives a reopen.
func TestCompactToTheLastIndex(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, smallSegments)
	mustSave(t, log, raft.HardState{Term: 1}, makeEntries(1, 10, 1))
	if err := log.Compact(raft.SnapshotMetadata{Index: 10, Term: 1}); err != nil {
		t.Fatalf("Compact to the last index: %v", err)
	}
	if log.FirstIndex() != 11 || log.LastIndex() != 10 {
		t.Fatalf("first %d last %d, want 11 10", log.FirstIndex(), log.LastIndex())
	}
	if term, err := log.Term(10); err != nil || term != 1 {
		t.Fatalf("Term(10) = %d, %v; want 1", term, err)
	}
	if _, err := log.Entries(10, 11, 0); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("Entries(10, 11) = %v, want ErrCompacted", err)
	}
	mustSave(t, log, raft.HardState{Term: 1}, makeEntries(11, 12, 1))
	log.Close()
	reopened := openLog(t, fileSystem, smallSegments)
	if got := allEntries(t, reopened); !sameEntries(got, makeEntries(11, 12, 1)) {
		t.Fatalf("after reopen got %v", got)
	}
	if got := reopened.SnapshotMetadata(); got.Index != 10 || got.Term != 1 {
		t.Fatalf("compaction point after reopen = %+v", got)
	}
}

// TestVoteInTheSameTermIsDurable checks that a hard state that changes
// only the vote (a node that learned the term first, then votes in it) is
// written and synced, like a new term: a vote forgotten in a crash lets
// the node vote twice in one term.
func TestVoteInTheSameTermIsDurable(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, smallSegments)
	mustSave(t, log, raft.HardState{Term: 2}, makeEntries(1, 3, 1))
	mustSave(t, log, raft.HardState{Term: 2, Vote: 3}, nil)
	fileSystem.Crash(nil) // nothing unsynced survives
	reopened := openLog(t, fileSystem, smallSegments)
	if got := reopened.HardState(); got != (raft.HardState{Term: 2, Vote: 3}) {
		t.Fatalf("hard state after a crash = %+v, want the vote for 3 in term 2", got)
	}
}

// TestSaveRejectsNonContiguousEntries checks that entries that skip an
// index within one Save are refused before anything is written, leaving
// the log usable (not failed by a record that cannot apply).
func TestSaveRejectsNonContiguousEntries(t *testing.T) {
	log := openLog(t, vfs.NewMemFS(), smallSegments)
	skipping := []raft.Entry{makeEntries(1, 1, 1)[0], makeEntries(3, 3, 1)[0]}
	if err := log.Save(raft.HardState{}, skipping); err == nil || errors.Is(err, ErrLogFailed) {
		t.Fatalf("Save of entries 1 and 3: %v, want a refusal that leaves the log usable", err)
	}
	mustSave(t, log, raft.HardState{}, makeEntries(1, 2, 1))
	if got := allEntries(t, log); !sameEntries(got, makeEntries(1, 2, 1)) {
		t.Fatalf("entries %v, want 1 and 2", got)
	}
}

// TestCompactRemovesASegmentEndingAtThePoint checks that a compaction at
// exactly the last entry of the oldest segment removes that segment: it
// holds no entry after the point.
func TestCompactRemovesASegmentEndingAtThePoint(t *testing.T) {
	log := openLog(t, vfs.NewMemFS(), smallSegments)
	index, lastOfOldest := uint64(0), uint64(0)
	for len(log.Segments()) < 3 {
		index++
		mustSave(t, log, raft.HardState{Term: 1}, makeEntries(index, index, 1))
		if lastOfOldest == 0 && len(log.Segments()) == 2 {
			lastOfOldest = index - 1 // entry index went to the second segment
		}
	}
	oldest := log.Segments()[0]
	if err := log.Compact(raft.SnapshotMetadata{Index: lastOfOldest, Term: 1}); err != nil {
		t.Fatal(err)
	}
	if got := log.Segments(); got[0] == oldest {
		t.Fatalf("segments after compacting at %d, the oldest one's last entry: %v, want %s removed", lastOfOldest, got, oldest)
	}
}

// TestTornFinalBatchEndingFlushWithItsData checks that damage in the final
// batch is a torn tail even when the batch's intact last record ends
// exactly where the written data ends (a payload that fills its last
// aligned word, so no zero padding follows it): recovery drops the batch.
func TestTornFinalBatchEndingFlushWithItsData(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, Options{SegmentSize: 4096})
	mustSave(t, log, raft.HardState{Term: 1}, makeEntries(1, 3, 1))
	final := []raft.Entry{{Index: 4, Term: 1, Data: []byte("first")}, {Index: 5, Term: 1, Data: []byte("1234567")}} // type byte + 7: no padding
	mustSave(t, log, raft.HardState{}, final)
	files := snapshotFiles(t, fileSystem)
	path, records := finalRecords(t, log, files)
	log.Close()
	damaged := records[len(records)-2] // entry 4, the final batch's first record
	if damaged.index != 4 || records[len(records)-1].index != 5 {
		t.Fatalf("unexpected final records %+v", records[len(records)-2:])
	}
	data := append([]byte(nil), files[path]...)
	data[damaged.offset+damaged.size-1] ^= 0xFF
	files[path] = data
	recovered, err := Open(copyFileSystem(t, files), testDir, Options{SegmentSize: 4096})
	if err != nil {
		t.Fatalf("Open after damage in the final batch: %v, want the batch dropped as a torn tail", err)
	}
	defer recovered.Close()
	if got := allEntries(t, recovered); !sameEntries(got, makeEntries(1, 3, 1)) {
		t.Fatalf("recovered %d entries, want 1..3", len(got))
	}
}

// TestSaveIgnoresEntriesAtTheCompactionPoint checks that a Save whose
// entries start at the compaction point itself (an entry the snapshot
// covers) ignores that entry and appends the rest.
func TestSaveIgnoresEntriesAtTheCompactionPoint(t *testing.T) {
	log := openLog(t, vfs.NewMemFS(), smallSegments)
	mustSave(t, log, raft.HardState{Term: 1}, makeEntries(1, 10, 1))
	if err := log.Compact(raft.SnapshotMetadata{Index: 5, Term: 1}); err != nil {
		t.Fatal(err)
	}
	mustSave(t, log, raft.HardState{Term: 2}, makeEntries(5, 8, 2))
	want := makeEntries(6, 8, 2)
	if got := allEntries(t, log); !sameEntries(got, want) || log.FirstIndex() != 6 {
		t.Fatalf("entries %v (first %d), want 6..8 of term 2", got, log.FirstIndex())
	}
}
