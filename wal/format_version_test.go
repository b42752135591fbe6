package wal

import (
	"errors"
	"strings"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// A segment of a format this build does not know (a newer build's, or no
// version at all) is refused with an error that names the version, rather
// than misread.
func TestRefusesUnknownSegmentFormats(t *testing.T) {
	for _, version := range []uint32{0, formatVersion + 1} {
		fileSystem := vfs.NewMemFS()
		log := openLog(t, fileSystem, smallSegments)
		if err := log.Save(raft.HardState{Term: 1, Vote: 1}, makeEntries(1, 3, 1)); err != nil {
			t.Fatal(err)
		}
		name := log.Segments()[0]
		log.Close()
		data := readFile(t, fileSystem, segmentPath(name))
		copy(data, segmentHeader{version: version, sequence: 1, firstIndex: 1, firstBatch: 1}.encode())
		writeFile(t, fileSystem, segmentPath(name), data)
		_, err := Open(fileSystem, testDir, smallSegments)
		var corruption *CorruptionError
		if !errors.As(err, &corruption) || !strings.Contains(err.Error(), "unsupported format version") {
			t.Fatalf("a segment of format %d opened with error %v", version, err)
		}
	}
}

// Point records are decoded by the format of their segment: the same
// payload means a different thing in each, and a payload of one format is
// refused by the other's decoder.
func TestPointRecordsDecodeByTheirSegmentFormat(t *testing.T) {
	point := raft.SnapshotMetadata{Index: 9, Term: 3, Membership: raft.Membership{Voters: []raft.NodeID{1, 2}, Learners: []raft.NodeID{3}}}
	r := pointRecord(recordCompaction, point)
	if decoded, err := decodePoint(r, formatVersion); err != nil || decoded.Membership.Learners[0] != 3 {
		t.Fatalf("decode a point of the current format: %+v, %v", decoded, err)
	}
	if _, err := decodePoint(r, 1); !errors.Is(err, raft.ErrBadMembership) {
		t.Fatalf("a point of the current format decoded as format 1: %v", err)
	}
}
