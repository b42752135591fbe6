package wal

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lockstepdb/lockstep/internal/formatfixture"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// checkFormat1Log opens a copy of a log of the fixture and checks that it
// reads what the code that wrote it read back.
func checkFormat1Log(t *testing.T, dir string, want formatfixture.Storage) *Storage {
	t.Helper()
	storage, err := OpenStorage(vfs.OS, dir, Options{})
	if err != nil {
		t.Fatalf("open a log of format 1: %v", err)
	}
	t.Cleanup(func() { storage.Close() })
	hardState, membership, err := storage.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	if hardState != want.HardState {
		t.Errorf("hard state %+v, want %+v", hardState, want.HardState)
	}
	if !reflect.DeepEqual(membership, want.Membership) {
		t.Errorf("membership %+v, want %+v", membership, want.Membership)
	}
	if point := storage.Log().SnapshotMetadata(); !reflect.DeepEqual(point, want.Compaction) {
		t.Errorf("compaction point %+v, want %+v", point, want.Compaction)
	}
	first, _ := storage.FirstIndex()
	last, _ := storage.LastIndex()
	if first != want.FirstIndex || last != want.LastIndex {
		t.Fatalf("entries %d to %d, want %d to %d", first, last, want.FirstIndex, want.LastIndex)
	}
	entries, err := storage.Entries(first, last+1, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if got := formatfixture.Entries(entries); !reflect.DeepEqual(got, want.Entries) {
		t.Errorf("entries %+v,\nwant %+v", got, want.Entries)
	}
	if segments := storage.Log().Segments(); !reflect.DeepEqual(segments, want.Segments) {
		t.Errorf("segments %v, want %v", segments, want.Segments)
	}
	return storage
}

// A log written in format 1 opens and reads as it did: hard state,
// membership, compaction point (whose membership format 1 stored its own
// way) and entries.
func TestOpensFormat1Logs(t *testing.T) {
	expected := formatfixture.Load(t)
	t.Run("member", func(t *testing.T) {
		checkFormat1Log(t, formatfixture.Copy(t, "member/raft/wal"), expected.Member)
	})
	t.Run("joint membership", func(t *testing.T) {
		checkFormat1Log(t, formatfixture.Copy(t, "storage/wal"), expected.Storage)
	})
}

// A log of format 1 takes new writes and a compaction, and reopens with
// both: the old segments are read in their format, the new ones in the
// current one.
func TestFormat1LogTakesNewWrites(t *testing.T) {
	expected := formatfixture.Load(t).Member
	dir := formatfixture.Copy(t, "member/raft/wal")
	storage := checkFormat1Log(t, dir, expected)
	vote := expected.HardState.Vote
	added := makeEntries(expected.LastIndex+1, expected.LastIndex+6, 2)
	hardState := raft.HardState{Term: 2, Vote: vote, Commit: expected.LastIndex + 6}
	if err := storage.Save(hardState, added); err != nil {
		t.Fatal(err)
	}
	if err := storage.Close(); err != nil {
		t.Fatal(err)
	}
	// The last segment of format 1 was not appended to: the new entries
	// went into a new segment, of the current format.
	if versions := segmentVersions(t, dir); !reflect.DeepEqual(versions, []uint32{1, 1, formatVersion}) {
		t.Fatalf("segment format versions %v, want the two of format 1 and a new one", versions)
	}

	reopen := func() *Log {
		log, err := Open(vfs.OS, dir, Options{})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		t.Cleanup(func() { log.Close() })
		return log
	}
	log := reopen()
	if log.HardState() != hardState {
		t.Fatalf("hard state %+v after reopening, want %+v", log.HardState(), hardState)
	}
	if point := log.SnapshotMetadata(); !reflect.DeepEqual(point, expected.Compaction) {
		t.Fatalf("compaction point %+v after reopening, want %+v", point, expected.Compaction)
	}
	entries := allEntries(t, log)
	if got := formatfixture.Entries(entries[:len(expected.Entries)]); !reflect.DeepEqual(got, expected.Entries) {
		t.Fatalf("the format 1 entries read back as %+v", got)
	}
	if !sameEntries(entries[len(expected.Entries):], added) {
		t.Fatalf("the new entries read back as %v", entries[len(expected.Entries):])
	}

	point := raft.SnapshotMetadata{Index: expected.LastIndex + 3, Term: 2, Membership: raft.Membership{
		Voters: expected.Membership.Learners, OutgoingVoters: expected.Membership.Voters}}
	if err := log.Compact(point); err != nil {
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	log = reopen()
	if got := log.SnapshotMetadata(); !reflect.DeepEqual(got, point) {
		t.Fatalf("compaction point %+v after compacting and reopening, want %+v", got, point)
	}
	if !sameEntries(allEntries(t, log), added[3:]) {
		t.Fatalf("entries after compacting: %v", allEntries(t, log))
	}
	if versions := segmentVersions(t, dir); !reflect.DeepEqual(versions, []uint32{formatVersion}) {
		t.Fatalf("segment format versions %v after compacting, want only the new segment", versions)
	}
}

// segmentVersions returns the format version of each segment in dir.
func segmentVersions(t *testing.T, dir string) []uint32 {
	t.Helper()
	names, err := listSegments(vfs.OS, dir)
	if err != nil {
		t.Fatal(err)
	}
	var versions []uint32
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		header, err := decodeSegmentHeader(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		versions = append(versions, header.version)
	}
	return versions
}
