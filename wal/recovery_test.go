package wal

import (
	"errors"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// copyFileSystem returns a MemFS holding the given files, all durable.
func copyFileSystem(t testing.TB, files map[string][]byte) *vfs.MemFS {
	t.Helper()
	fileSystem := vfs.NewMemFS()
	if err := fileSystem.MkdirAll(testDir); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		writeFile(t, fileSystem, name, data)
	}
	if err := fileSystem.SyncDir(testDir); err != nil {
		t.Fatal(err)
	}
	return fileSystem
}

// snapshotFiles returns the content of every file of the log directory.
func snapshotFiles(t testing.TB, fileSystem vfs.FS) map[string][]byte {
	t.Helper()
	names, err := fileSystem.List(testDir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, name := range names {
		files[segmentPath(name)] = readFile(t, fileSystem, segmentPath(name))
	}
	return files
}

// finalRecords returns the path of the last segment and the records in it.
func finalRecords(t testing.TB, log *Log, files map[string][]byte) (string, []scannedRecord) {
	t.Helper()
	names := log.Segments()
	path := segmentPath(names[len(names)-1])
	scan, corruption := scanSegment(files[path], true)
	if corruption != nil {
		t.Fatalf("clean segment does not scan: %v", corruption)
	}
	return path, scan.records
}

// TestRecoveryAfterTruncationAtEveryOffset cuts the last segment at every
// byte offset within its last three records (each its own batch: the
// writes whose fsync had not returned), both by shortening the file and by
// zeroing the rest as unwritten preallocated space would be. Recovery must
// yield exactly the entries whose records lie wholly before the cut.
func TestRecoveryAfterTruncationAtEveryOffset(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, Options{SegmentSize: 2048})
	all := makeEntries(1, 40, 1)
	for i := 0; i < 37; i += 4 {
		mustSave(t, log, raft.HardState{Term: 1, Commit: uint64(i)}, all[i:min(i+4, 37)])
	}
	for i := 37; i < 40; i++ {
		mustSave(t, log, raft.HardState{}, all[i:i+1])
	}
	files := snapshotFiles(t, fileSystem)
	path, records := finalRecords(t, log, files)
	log.Close()
	lastThree := records[len(records)-3:]
	for _, r := range lastThree {
		if r.kind != recordEntry || !r.endsBatch() {
			t.Fatalf("setup: last records should be single-entry batches, got %+v", r.record)
		}
	}
	start := lastThree[0].offset
	end := lastThree[2].offset + lastThree[2].size
	for cut := start; cut < end; cut++ {
		var want []raft.Entry
		for _, entry := range all {
			if entry.Index < 38 {
				want = append(want, entry)
			}
		}
		for _, r := range lastThree {
			if r.offset+r.size <= cut {
				want = append(want, all[r.index-1])
			}
		}
		for _, mode := range []string{"shortened", "zeroed"} {
			damaged := map[string][]byte{}
			for name, data := range files {
				damaged[name] = data
			}
			data := append([]byte(nil), files[path]...)
			if mode == "shortened" {
				data = data[:cut]
			} else {
				clear(data[cut:])
			}
			damaged[path] = data
			recovered, err := Open(copyFileSystem(t, damaged), testDir, Options{SegmentSize: 2048})
			if err != nil {
				t.Fatalf("cut at %d (%s): %v", cut, mode, err)
			}
			if got := allEntries(t, recovered); !sameEntries(got, want) {
				t.Fatalf("cut at %d (%s): recovered %d entries, want %d", cut, mode, len(got), len(want))
			}
			recovered.Close()
		}
	}
}

// TestRecoveryDetectsEveryFlippedByte flips each byte of the last records
// of the log, one at a time. A flip inside the final batch may be a torn
// write, so recovery drops that batch and returns everything before it;
// a flip in any earlier record is followed by an intact later batch and
// must be reported as corruption naming the file and the record's offset.
// No flip ever yields wrong data.
func TestRecoveryDetectsEveryFlippedByte(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, Options{SegmentSize: 4096})
	mustSave(t, log, raft.HardState{Term: 1, Commit: 0}, makeEntries(1, 10, 1))
	mustSave(t, log, raft.HardState{Term: 1, Commit: 10}, makeEntries(11, 12, 1)) // batch A
	mustSave(t, log, raft.HardState{}, makeEntries(13, 13, 1))                    // batch B
	mustSave(t, log, raft.HardState{Term: 2, Commit: 13}, makeEntries(14, 15, 2)) // final batch C
	files := snapshotFiles(t, fileSystem)
	path, records := finalRecords(t, log, files)
	log.Close()
	const checked = 7 // A: 2 entries + hard state, B: 1 entry, C: 2 entries + hard state
	finalBatch := records[len(records)-1].batch
	beforeFinal := makeEntries(1, 13, 1)
	for _, r := range records[len(records)-checked:] {
		for offset := r.offset; offset < r.offset+r.size; offset++ {
			for _, mask := range []byte{0x01, 0xFF} {
				damaged := map[string][]byte{}
				for name, data := range files {
					damaged[name] = data
				}
				data := append([]byte(nil), files[path]...)
				data[offset] ^= mask
				damaged[path] = data
				recovered, err := Open(copyFileSystem(t, damaged), testDir, Options{SegmentSize: 4096})
				if r.batch == finalBatch {
					if err != nil {
						t.Fatalf("flip at %d (final batch): %v, want the batch dropped as a torn tail", offset, err)
					}
					if got := allEntries(t, recovered); !sameEntries(got, beforeFinal) {
						t.Fatalf("flip at %d (final batch): recovered %d entries, want %d", offset, len(got), len(beforeFinal))
					}
					if got := recovered.HardState(); got != (raft.HardState{Term: 1, Commit: 10}) {
						t.Fatalf("flip at %d (final batch): hard state %+v", offset, got)
					}
					recovered.Close()
					continue
				}
				var corruption *CorruptionError
				if !errors.As(err, &corruption) {
					if err == nil {
						recovered.Close()
					}
					t.Fatalf("flip at %d (batch %d, record at %d): got %v, want a CorruptionError", offset, r.batch, r.offset, err)
				}
				if corruption.File != path || corruption.Offset != r.offset {
					t.Fatalf("flip at %d: corruption reported at %s:%d, want %s:%d", offset, corruption.File, corruption.Offset, path, r.offset)
				}
			}
		}
	}
}

// TestRecoveryRejectsMissingSegment removes a middle segment, and then the
// first ones, and expects corruption, not a shorter log.
func TestRecoveryRejectsMissingSegment(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, smallSegments)
	for i := uint64(1); i <= 100; i += 5 {
		mustSave(t, log, raft.HardState{Term: 1}, makeEntries(i, i+4, 1))
	}
	names := log.Segments()
	log.Close()
	files := snapshotFiles(t, fileSystem)
	for _, missing := range []int{len(names) / 2, 0} {
		damaged := map[string][]byte{}
		for name, data := range files {
			damaged[name] = data
		}
		delete(damaged, segmentPath(names[missing]))
		_, err := Open(copyFileSystem(t, damaged), testDir, smallSegments)
		var corruption *CorruptionError
		if !errors.As(err, &corruption) {
			t.Fatalf("segment %d missing: got %v, want a CorruptionError", missing, err)
		}
	}
}

// TestRecoveryRejectsDamagedEarlierSegment damages a record in a segment
// that is not the last: no crash can do that.
func TestRecoveryRejectsDamagedEarlierSegment(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, smallSegments)
	for i := uint64(1); i <= 60; i += 5 {
		mustSave(t, log, raft.HardState{Term: 1}, makeEntries(i, i+4, 1))
	}
	names := log.Segments()
	log.Close()
	files := snapshotFiles(t, fileSystem)
	first := segmentPath(names[0])
	scan, _ := scanSegment(files[first], false)
	last := scan.records[len(scan.records)-1]
	files[first][last.offset+recordHeaderSize] ^= 1
	_, err := Open(copyFileSystem(t, files), testDir, smallSegments)
	var corruption *CorruptionError
	if !errors.As(err, &corruption) || corruption.File != first || corruption.Offset != last.offset {
		t.Fatalf("got %v, want a CorruptionError at %s:%d", err, first, last.offset)
	}
}
