package wal

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

const testDir = "/wal"

// smallSegments makes tests cross segment boundaries after a few records.
var smallSegments = Options{SegmentSize: 1024, CacheBytes: 512}

// inline returns options with which the log prepares its next segment
// inside the Save that starts it, not on a goroutine of its own: a test
// that counts file operations then sees them in one order, and counts
// them from one goroutine.
func inline(options Options) Options {
	options.inlinePreparation = true
	return options
}

func openLog(t testing.TB, fileSystem vfs.FS, options Options) *Log {
	t.Helper()
	log, err := Open(fileSystem, testDir, options)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return log
}

// makeEntries returns entries first..last in term, with data that names
// them so that a wrong entry is visible.
func makeEntries(first, last, term uint64) []raft.Entry {
	var entries []raft.Entry
	for index := first; index <= last; index++ {
		entries = append(entries, raft.Entry{Index: index, Term: term, Data: fmt.Appendf(nil, "entry %d term %d", index, term)})
	}
	return entries
}

// allEntries reads every entry the log holds, from disk and cache.
func allEntries(t testing.TB, log *Log) []raft.Entry {
	t.Helper()
	first, last := log.FirstIndex(), log.LastIndex()
	if first > last {
		return nil
	}
	entries, err := log.Entries(first, last+1, ^uint64(0))
	if err != nil {
		t.Fatalf("Entries(%d, %d): %v", first, last+1, err)
	}
	return entries
}

func sameEntries(a, b []raft.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Index != b[i].Index || a[i].Term != b[i].Term || a[i].Type != b[i].Type || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

func mustSave(t testing.TB, log *Log, hardState raft.HardState, entries []raft.Entry) {
	t.Helper()
	if err := log.Save(hardState, entries); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

// readFile returns the content of a file of fileSystem.
func readFile(t testing.TB, fileSystem vfs.FS, name string) []byte {
	t.Helper()
	file, err := fileSystem.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	size, err := file.Size()
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	if size > 0 {
		if _, err := file.ReadAt(data, 0); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// writeFile replaces the content of a file of fileSystem, durably.
func writeFile(t testing.TB, fileSystem vfs.FS, name string, data []byte) {
	t.Helper()
	file, err := fileSystem.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := file.Sync(); err != nil {
		t.Fatal(err)
	}
}

func segmentPath(name string) string { return filepath.Join(testDir, name) }
