package wal

import (
	"errors"
	"fmt"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// TestStorageContract checks the raft.Storage rules the core relies on,
// both for entries in the cache and for entries read back from disk.
func TestStorageContract(t *testing.T) {
	for _, cacheBytes := range []uint64{1 << 20, 1} {
		storage, err := OpenStorage(vfs.NewMemFS(), testDir, Options{SegmentSize: 1024, CacheBytes: cacheBytes})
		if err != nil {
			t.Fatal(err)
		}
		if err := storage.Save(raft.HardState{Term: 2, Vote: 1, Commit: 5}, makeEntries(1, 20, 2)); err != nil {
			t.Fatal(err)
		}
		snapshot := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 5, Term: 2, Membership: raft.Membership{Voters: []raft.NodeID{1, 2, 3}}}, Data: []byte("state")}
		if err := storage.Compact(snapshot); err != nil {
			t.Fatal(err)
		}
		if first, _ := storage.FirstIndex(); first != 6 {
			t.Fatalf("FirstIndex = %d, want 6", first)
		}
		if last, _ := storage.LastIndex(); last != 20 {
			t.Fatalf("LastIndex = %d, want 20", last)
		}
		// Term at FirstIndex()-1 is the snapshot's term; below it, compacted.
		if term, err := storage.Term(5); err != nil || term != 2 {
			t.Fatalf("Term(5) = %d, %v; want the snapshot term 2", term, err)
		}
		if _, err := storage.Term(4); !errors.Is(err, raft.ErrCompacted) {
			t.Fatalf("Term(4) = %v, want ErrCompacted", err)
		}
		if _, err := storage.Term(21); !errors.Is(err, raft.ErrUnavailable) {
			t.Fatalf("Term(21) = %v, want ErrUnavailable", err)
		}
		if _, err := storage.Entries(5, 7, 1<<20); !errors.Is(err, raft.ErrCompacted) {
			t.Fatalf("Entries(5, 7) = %v, want ErrCompacted", err)
		}
		if _, err := storage.Entries(6, 22, 1<<20); !errors.Is(err, raft.ErrUnavailable) {
			t.Fatalf("Entries(6, 22) = %v, want ErrUnavailable", err)
		}
		// maxBytes 0 still returns one entry; a budget for two returns two.
		entries, err := storage.Entries(6, 21, 0)
		if err != nil || len(entries) != 1 || entries[0].Index != 6 {
			t.Fatalf("Entries(6, 21, 0) = %v, %v; want exactly entry 6", entries, err)
		}
		two := makeEntries(6, 7, 2)
		entries, err = storage.Entries(6, 21, two[0].Size()+two[1].Size())
		if err != nil || !sameEntries(entries, two) {
			t.Fatalf("Entries(6, 21, size of two) = %d entries, %v; want 2", len(entries), err)
		}
		entries, err = storage.Entries(6, 21, 1<<20)
		if err != nil || !sameEntries(entries, makeEntries(6, 20, 2)) {
			t.Fatalf("Entries(6, 21) = %d entries, %v", len(entries), err)
		}
		hardState, membership, err := storage.InitialState()
		if err != nil || hardState != (raft.HardState{Term: 2, Vote: 1, Commit: 5}) || len(membership.Voters) != 3 {
			t.Fatalf("InitialState = %+v, %+v, %v", hardState, membership, err)
		}
		got, err := storage.Snapshot()
		if err != nil || got.Metadata.Index != 5 || string(got.Data) != "state" {
			t.Fatalf("Snapshot = %+v, %v", got, err)
		}
		if err := storage.Compact(snapshot); !errors.Is(err, raft.ErrSnapshotOutOfDate) {
			t.Fatalf("Compact to the same index = %v, want ErrSnapshotOutOfDate", err)
		}
		storage.Close()
	}
}

// TestStorageSnapshotAfterRestart loads snapshot data through
// Options.SnapshotData after a restart.
func TestStorageSnapshotAfterRestart(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	storage, err := OpenStorage(fileSystem, testDir, Options{SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	snapshot := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 100, Term: 4}, Data: []byte("image")}
	if err := storage.ApplySnapshot(snapshot); err != nil {
		t.Fatal(err)
	}
	storage.Close()
	var asked raft.SnapshotMetadata
	reopened, err := OpenStorage(fileSystem, testDir, Options{SegmentSize: 4096, SnapshotData: func(metadata raft.SnapshotMetadata) ([]byte, error) {
		asked = metadata
		return []byte("image"), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := reopened.Snapshot()
	if err != nil || string(got.Data) != "image" || asked.Index != 100 || asked.Term != 4 {
		t.Fatalf("Snapshot after restart = %+v, %v (asked for %+v)", got, err, asked)
	}
	if first, _ := reopened.FirstIndex(); first != 101 {
		t.Fatalf("FirstIndex = %d, want 101", first)
	}
	if term, _ := reopened.Term(100); term != 4 {
		t.Fatalf("Term(100) = %d, want 4", term)
	}
}

// TestStorageKeepsNoSnapshotDataWithALoader: with Options.SnapshotData,
// Storage holds no copy of a snapshot's data (as large as the state
// machine): each Snapshot call loads it, including right after
// ApplySnapshot or Compact handed it the data.
func TestStorageKeepsNoSnapshotDataWithALoader(t *testing.T) {
	loads := 0
	storage, err := OpenStorage(vfs.NewMemFS(), testDir, Options{SegmentSize: 4096, SnapshotData: func(metadata raft.SnapshotMetadata) ([]byte, error) {
		loads++
		return []byte(fmt.Sprintf("image-%d", metadata.Index)), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer storage.Close()
	if err := storage.ApplySnapshot(raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 100, Term: 4}, Data: []byte("image-100")}); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 2; want++ {
		got, err := storage.Snapshot()
		if err != nil || string(got.Data) != "image-100" || loads != want {
			t.Fatalf("Snapshot #%d = %q, %v after %d loads; want image-100 loaded each time", want, got.Data, err, loads)
		}
	}
	if storage.snapshot.Data != nil {
		t.Fatal("Storage kept the snapshot's data")
	}
}
