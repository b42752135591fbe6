package wal

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

func TestSaveAndReopen(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, smallSegments)
	want := makeEntries(1, 100, 1)
	for i := 0; i < len(want); i += 10 {
		mustSave(t, log, raft.HardState{Term: 1, Vote: 2, Commit: uint64(i)}, want[i:i+10])
	}
	if got := allEntries(t, log); !sameEntries(got, want) {
		t.Fatalf("entries before reopen differ")
	}
	if len(log.Segments()) < 3 {
		t.Fatalf("want several segments with SegmentSize %d, got %v", smallSegments.SegmentSize, log.Segments())
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := openLog(t, fileSystem, smallSegments)
	if got := allEntries(t, reopened); !sameEntries(got, want) {
		t.Fatalf("entries after reopen differ: got %d entries", len(got))
	}
	if got := reopened.HardState(); got != (raft.HardState{Term: 1, Vote: 2, Commit: 90}) {
		t.Fatalf("hard state after reopen = %+v", got)
	}
}

// TestTruncateSuffixAcrossSegments overwrites a suffix that starts in an
// older segment than the one being written, then reopens.
func TestTruncateSuffixAcrossSegments(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, smallSegments)
	for i := uint64(1); i <= 100; i += 10 {
		mustSave(t, log, raft.HardState{}, makeEntries(i, i+9, 1))
	}
	segmentsBefore := len(log.Segments())
	// A new leader in term 2 overwrites from 25 on, which lies several
	// segments back.
	replacement := makeEntries(25, 40, 2)
	mustSave(t, log, raft.HardState{Term: 2}, replacement)
	want := append(makeEntries(1, 24, 1), replacement...)
	if got := allEntries(t, log); !sameEntries(got, want) {
		t.Fatalf("after truncation: got %d entries, want %d", len(got), len(want))
	}
	if log.LastIndex() != 40 {
		t.Fatalf("LastIndex = %d, want 40", log.LastIndex())
	}
	log.Close()
	reopened := openLog(t, fileSystem, smallSegments)
	if got := allEntries(t, reopened); !sameEntries(got, want) {
		t.Fatalf("after reopen: got %d entries, want %d (segments before %d)", len(got), len(want), segmentsBefore)
	}
	// Appending after the truncation continues from 41.
	mustSave(t, reopened, raft.HardState{}, makeEntries(41, 41, 2))
	if _, err := reopened.Entries(41, 42, 0); err != nil {
		t.Fatal(err)
	}
}

// TestCompactPrefixAcrossSegments compacts, checks that whole segments are
// removed (and only those), and reopens.
func TestCompactPrefixAcrossSegments(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, smallSegments)
	for i := uint64(1); i <= 200; i += 10 {
		mustSave(t, log, raft.HardState{Term: 1, Commit: i + 9}, makeEntries(i, i+9, 1))
	}
	before := log.Segments()
	point := raft.SnapshotMetadata{Index: 150, Term: 1, Membership: raft.Membership{Voters: []raft.NodeID{1, 2, 3}}}
	if err := log.Compact(point); err != nil {
		t.Fatal(err)
	}
	after := log.Segments()
	if len(after) >= len(before) {
		t.Fatalf("compaction removed no segment: before %v after %v", before, after)
	}
	var names []string
	listed, _ := fileSystem.List(testDir)
	for _, name := range listed {
		if !strings.HasSuffix(name, temporarySuffix) { // the next segment, being prepared
			names = append(names, name)
		}
	}
	if len(names) != len(after) {
		t.Fatalf("files %v, want segments %v", names, after)
	}
	if _, err := log.Entries(150, 151, 0); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("Entries(150) after compaction: %v, want ErrCompacted", err)
	}
	want := makeEntries(151, 200, 1)
	if got := allEntries(t, log); !sameEntries(got, want) {
		t.Fatalf("after compaction got %d entries", len(got))
	}
	log.Close()
	reopened := openLog(t, fileSystem, smallSegments)
	if got := allEntries(t, reopened); !sameEntries(got, want) {
		t.Fatalf("after reopen got %d entries", len(got))
	}
	if got := reopened.SnapshotMetadata(); got.Index != 150 || got.Term != 1 || len(got.Membership.Voters) != 3 {
		t.Fatalf("compaction point after reopen = %+v", got)
	}
	if term, err := reopened.Term(150); err != nil || term != 1 {
		t.Fatalf("Term(150) = %d, %v", term, err)
	}
	if got := reopened.HardState(); got.Commit != 200 {
		t.Fatalf("hard state after reopen = %+v", got)
	}
}

func TestInstallSnapshotDiscardsLog(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, smallSegments)
	for i := uint64(1); i <= 100; i += 10 {
		mustSave(t, log, raft.HardState{Term: 1}, makeEntries(i, i+9, 1))
	}
	if err := log.InstallSnapshot(raft.SnapshotMetadata{Index: 50, Term: 3}); err != nil {
		t.Fatal(err)
	}
	if len(log.Segments()) != 1 {
		t.Fatalf("segments after installing a snapshot = %v, want only the last", log.Segments())
	}
	if log.FirstIndex() != 51 || log.LastIndex() != 50 {
		t.Fatalf("after snapshot first %d last %d, want 51 50", log.FirstIndex(), log.LastIndex())
	}
	if err := log.InstallSnapshot(raft.SnapshotMetadata{Index: 50, Term: 3}); !errors.Is(err, raft.ErrSnapshotOutOfDate) {
		t.Fatalf("second install: %v, want ErrSnapshotOutOfDate", err)
	}
	mustSave(t, log, raft.HardState{Term: 3}, makeEntries(51, 60, 3))
	log.Close()
	reopened := openLog(t, fileSystem, smallSegments)
	if got := allEntries(t, reopened); !sameEntries(got, makeEntries(51, 60, 3)) {
		t.Fatalf("after reopen got %v", got)
	}
}

func TestSaveRejectsGap(t *testing.T) {
	log := openLog(t, vfs.NewMemFS(), smallSegments)
	mustSave(t, log, raft.HardState{}, makeEntries(1, 3, 1))
	if err := log.Save(raft.HardState{}, makeEntries(5, 6, 1)); err == nil {
		t.Fatal("Save with a gap succeeded")
	}
	// The log stays usable after a rejected request.
	mustSave(t, log, raft.HardState{}, makeEntries(4, 4, 1))
}

// TestConcurrentSavesShareOneFsync holds the first fsync until every
// other writer has queued, then checks that all of them were committed by
// a single second fsync (group commit), and that each is durable.
func TestConcurrentSavesShareOneFsync(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, Options{SegmentSize: 1 << 20})
	const writers = 8
	var syncs atomic.Int32
	entered := make(chan struct{})
	fileSystem.SetFault(func(operation vfs.Operation, name string) error {
		if operation != vfs.OperationSync {
			return nil
		}
		if syncs.Add(1) == 1 {
			close(entered)
			for log.queueLength() < writers-1 {
				runtime.Gosched() // the other writers are about to queue
			}
		}
		return nil
	})
	var group sync.WaitGroup
	for writer := range writers {
		group.Add(1)
		go func() {
			defer group.Done()
			if writer > 0 {
				<-entered
			}
			if err := log.Save(raft.HardState{Term: uint64(writer + 1), Vote: raft.NodeID(writer + 1)}, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	group.Wait()
	if got := syncs.Load(); got != 2 {
		t.Fatalf("%d fsyncs for %d concurrent saves, want 2 (group commit)", got, writers)
	}
	log.Close()
	fileSystem.SetFault(nil)
	fileSystem.Crash(nil)
	reopened := openLog(t, fileSystem, Options{SegmentSize: 1 << 20})
	if reopened.HardState().IsEmpty() {
		t.Fatal("no hard state recovered")
	}
}

// TestConcurrentWritersAndReaders runs writers and readers at once under
// the race detector; readers must only ever see contiguous, consistent
// entries.
func TestConcurrentWritersAndReaders(t *testing.T) {
	log := openLog(t, vfs.NewMemFS(), smallSegments)
	var group sync.WaitGroup
	done := make(chan struct{})
	group.Add(1)
	go func() {
		defer group.Done()
		defer close(done)
		for i := uint64(1); i <= 300; i += 3 {
			if err := log.Save(raft.HardState{Term: 1, Commit: i}, makeEntries(i, i+2, 1)); err != nil {
				t.Error(err)
				return
			}
			if i%60 == 1 && i > 60 {
				if err := log.Compact(raft.SnapshotMetadata{Index: i - 30, Term: 1}); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for range 2 {
		group.Add(1)
		go func() {
			defer group.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				first, last := log.FirstIndex(), log.LastIndex()
				if first > last {
					continue
				}
				entries, err := log.Entries(first, last+1, 1<<20)
				if errors.Is(err, raft.ErrCompacted) || errors.Is(err, raft.ErrUnavailable) {
					continue // raced with a compaction; fine
				}
				if err != nil {
					t.Error(err)
					return
				}
				for i, entry := range entries {
					if entry.Index != first+uint64(i) {
						t.Errorf("entry %d at position of %d", entry.Index, first+uint64(i))
						return
					}
				}
			}
		}()
	}
	group.Wait()
}
