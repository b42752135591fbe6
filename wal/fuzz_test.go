package wal

import (
	"bytes"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record decoder: it must
// never panic, and whatever it accepts must re-encode to the same bytes
// and decode into its payload type without panicking.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, entryRecord(raft.Entry{Index: 7, Term: 3, Data: []byte("hello")})))
	f.Add(appendRecord(nil, hardStateRecord(raft.HardState{Term: 3, Vote: 2, Commit: 7})))
	f.Add(appendRecord(nil, pointRecord(recordSnapshot, raft.SnapshotMetadata{Index: 9, Term: 3, Membership: raft.Membership{Voters: []raft.NodeID{1, 2}}})))
	f.Add(make([]byte, recordHeaderSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		decoded, size, err := decodeRecord(data)
		if err != nil {
			return
		}
		if size > len(data) || size < recordHeaderSize || size%recordAlignment != 0 {
			t.Fatalf("decoded size %d of %d bytes", size, len(data))
		}
		if again := appendRecord(nil, decoded); !bytes.Equal(again, data[:size]) {
			t.Fatalf("record does not re-encode to its bytes")
		}
		switch decoded.kind {
		case recordEntry:
			_, _ = decodeEntry(decoded)
		case recordHardState:
			_, _ = decodeHardState(decoded)
		default:
			_, _ = decodePoint(decoded, 1)
			_, _ = decodePoint(decoded, formatVersion)
		}
	})
}

// FuzzRecoveryScan feeds arbitrary bytes as the only segment of a log to
// the recovery scan and to Open: neither may panic; what Open accepts must
// be readable, and a reopened log must recover the same entries (the
// repair of a torn tail is idempotent).
func FuzzRecoveryScan(f *testing.F) {
	fileSystem := vfs.NewMemFS()
	log, err := Open(fileSystem, testDir, Options{SegmentSize: 512})
	if err != nil {
		f.Fatal(err)
	}
	if err := log.Save(raft.HardState{Term: 1, Vote: 1}, makeEntries(1, 3, 1)); err != nil {
		f.Fatal(err)
	}
	if err := log.Save(raft.HardState{Term: 1, Commit: 3}, makeEntries(4, 4, 1)); err != nil {
		f.Fatal(err)
	}
	if err := log.Compact(raft.SnapshotMetadata{Index: 2, Term: 1}); err != nil {
		f.Fatal(err)
	}
	name := log.Segments()[0]
	log.Close()
	f.Add(readFile(f, fileSystem, segmentPath(name)))
	f.Add(segmentHeader{version: formatVersion, sequence: 1, firstIndex: 1, firstBatch: 1}.encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		scan, corruption := scanSegment(data, true)
		if corruption == nil {
			previousEnd := int64(segmentHeaderSize)
			for _, r := range scan.records {
				if r.offset != previousEnd || r.offset+r.size > int64(len(data)) {
					t.Fatalf("record at %d (size %d) after end %d", r.offset, r.size, previousEnd)
				}
				previousEnd = r.offset + r.size
			}
			if scan.end != previousEnd || scan.dirtyEnd < scan.end {
				t.Fatalf("end %d, dirty end %d, records end %d", scan.end, scan.dirtyEnd, previousEnd)
			}
		}
		if len(data) < segmentHeaderSize {
			return
		}
		header, err := decodeSegmentHeader(data)
		if err != nil {
			return
		}
		fileSystem := copyFileSystem(t, map[string][]byte{segmentPath(segmentName(header.sequence, header.firstIndex)): data})
		log, err := Open(fileSystem, testDir, Options{SegmentSize: 512})
		if err != nil {
			return
		}
		entries := allEntries(t, log)
		hardState := log.HardState()
		log.Close()
		reopened, err := Open(fileSystem, testDir, Options{SegmentSize: 512})
		if err != nil {
			t.Fatalf("a log that opened does not reopen: %v", err)
		}
		if !sameEntries(allEntries(t, reopened), entries) || reopened.HardState() != hardState {
			t.Fatalf("reopening changed the log")
		}
		reopened.Close()
	})
}
