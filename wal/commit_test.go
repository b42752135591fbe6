package wal

import (
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// TestCommitOnlySaveSkipsTheFsync checks that a hard state moving only the
// commit index is remembered without a write or an fsync — a crash right
// after it recovers the older commit index, never a damaged log — and
// reaches the disk with the next hard state written, while a new term or
// vote, and entries, are always written and synced.
func TestCommitOnlySaveSkipsTheFsync(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	syncs := 0
	writes := 0
	fileSystem.SetFault(func(operation vfs.Operation, name string) error {
		switch operation {
		case vfs.OperationSync:
			syncs++
		case vfs.OperationWrite:
			writes++
		}
		return nil
	})
	log := openLog(t, fileSystem, inline(smallSegments))
	mustSave(t, log, raft.HardState{Term: 1, Vote: 1, Commit: 0}, makeEntries(1, 5, 1))
	before, writesBefore := syncs, writes
	mustSave(t, log, raft.HardState{Term: 1, Vote: 1, Commit: 5}, nil)
	if syncs != before || writes != writesBefore {
		t.Fatalf("a commit-only save wrote %d times and synced %d times", writes-writesBefore, syncs-before)
	}
	if got := log.HardState().Commit; got != 5 {
		t.Fatalf("commit %d visible after the save, want 5", got)
	}
	mustSave(t, log, raft.HardState{Term: 2, Vote: 1, Commit: 5}, nil)
	if syncs == before {
		t.Fatal("a new term was not synced")
	}

	fileSystem.Crash(nil) // nothing unsynced survives
	reopened := openLog(t, fileSystem, inline(smallSegments))
	if got := reopened.HardState(); got != (raft.HardState{Term: 2, Vote: 1, Commit: 5}) {
		t.Fatalf("after a synced term change the commit rode along: got %+v", got)
	}
	before = syncs
	mustSave(t, reopened, raft.HardState{Term: 2, Vote: 1, Commit: 5}, makeEntries(6, 6, 2))
	mustSave(t, reopened, raft.HardState{Term: 2, Vote: 1, Commit: 6}, nil)
	fileSystem.Crash(nil)
	recovered := openLog(t, fileSystem, inline(smallSegments))
	if got := recovered.HardState(); got.Commit != 5 || got.Term != 2 || recovered.LastIndex() != 6 {
		t.Fatalf("after losing an unsynced commit: %+v, last %d; want commit 5, term 2, last 6", got, recovered.LastIndex())
	}
}

// TestObserveSyncSeesOnlyWritesThatReachTheDisk checks that
// Options.ObserveSync (lockstep_wal_fsync_seconds) is called once per
// batch written and fsynced, and not for a commit-only save, which
// writes nothing: counting those made the fsync histogram's p50 half
// real fsyncs and half nothing.
func TestObserveSyncSeesOnlyWritesThatReachTheDisk(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	syncs := 0
	fileSystem.SetFault(func(operation vfs.Operation, name string) error {
		if operation == vfs.OperationSync {
			syncs++
		}
		return nil
	})
	observed := 0
	options := inline(smallSegments)
	options.ObserveSync = func(elapsed time.Duration) {
		if elapsed < 0 {
			t.Errorf("observed a negative duration %v", elapsed)
		}
		observed++
	}
	log := openLog(t, fileSystem, options)
	syncsBefore := syncs
	mustSave(t, log, raft.HardState{Term: 1, Vote: 1, Commit: 0}, makeEntries(1, 5, 1))
	if observed != 1 {
		t.Fatalf("a save of entries was observed %d times, want 1", observed)
	}
	mustSave(t, log, raft.HardState{Term: 1, Vote: 1, Commit: 5}, nil)
	if observed != 1 {
		t.Fatalf("a commit-only save was observed (%d observations)", observed)
	}
	mustSave(t, log, raft.HardState{Term: 2, Vote: 1, Commit: 5}, nil)
	if observed != 2 {
		t.Fatalf("a new term was observed %d times in all, want 2", observed)
	}
	if syncs-syncsBefore < observed {
		t.Fatalf("%d observations for %d fsyncs", observed, syncs-syncsBefore)
	}
}
