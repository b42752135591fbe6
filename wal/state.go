package wal

import (
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
)

// entryPosition says where the record of one entry lies. It holds no
// pointer, so that the garbage collector need not scan the index of a
// long log.
type entryPosition struct {
	sequence uint64 // of the segment
	offset   int64
	size     int64
	term     uint64
	// entrySize is the entry's raft.Entry.Size, for byte limits.
	entrySize uint64
}

// logState is the log's in-memory index of what its records say: the
// latest hard state and compaction point, and where each live entry is.
// Recovery builds it by applying every record in order; the writer keeps
// it current by applying each record it has made durable. Sharing apply
// means a live log and a recovered one cannot disagree.
type logState struct {
	hardState raft.HardState
	point     raft.SnapshotMetadata
	// base is the index before the first entry in positions. It equals
	// point.Index in an open log; during recovery it can be higher when
	// older segments were removed, until a later compaction record shows
	// that the entries in between were legitimately discarded.
	base      uint64
	positions positionIndex
	segments  []*segment
}

func (s *logState) lastIndex() uint64 { return s.base + uint64(s.positions.len()) }

// position returns where the entry at index lies; base < index <= lastIndex().
func (s *logState) position(index uint64) *entryPosition {
	return s.positions.at(int(index - s.base - 1))
}

// segment returns the open segment with the given sequence number, which
// must be one of s.segments (they are consecutive).
func (s *logState) segment(sequence uint64) *segment {
	return s.segments[sequence-s.segments[0].header.sequence]
}

// apply updates the state with one record of segment (the last one in
// s.segments) at offset. An error means the record cannot follow the ones
// before it: corruption during recovery, a bug in the writer otherwise.
func (s *logState) apply(r record, offset, size int64) error {
	current := s.segments[len(s.segments)-1]
	switch r.kind {
	case recordEntry:
		index := r.index
		if index <= s.point.Index {
			return fmt.Errorf("entry %d lies at or below the compaction point %d", index, s.point.Index)
		}
		if last := s.lastIndex(); index > last+1 {
			return fmt.Errorf("entry %d leaves a gap after the last index %d", index, last)
		}
		if len(r.payload) < 1 {
			return fmt.Errorf("entry %d has no type byte", index)
		}
		// An entry at or below the last index replaces that entry and all
		// after it: a follower's conflicting suffix (Raft §5.3).
		if index <= s.base {
			s.base = index - 1
			s.positions.reset()
		} else {
			s.positions.truncate(int(index - s.base - 1))
		}
		entrySize := (raft.Entry{Data: r.payload[1:]}).Size()
		s.positions.append(entryPosition{sequence: current.header.sequence, offset: offset, size: size, term: r.term, entrySize: entrySize})
		current.maxIndex = max(current.maxIndex, index)
	case recordHardState:
		state, err := decodeHardState(r)
		if err != nil {
			return err
		}
		s.hardState = state
	case recordCompaction:
		point, err := decodePoint(r, current.header.version)
		if err != nil {
			return err
		}
		if point.Index < s.point.Index {
			return fmt.Errorf("compaction point moves back from %d to %d", s.point.Index, point.Index)
		}
		s.point = point
		if point.Index >= s.base {
			if point.Index <= s.lastIndex() {
				s.positions.dropFront(int(point.Index - s.base))
			} else {
				s.positions.reset()
			}
			s.base = point.Index
		}
	case recordSnapshot:
		point, err := decodePoint(r, current.header.version)
		if err != nil {
			return err
		}
		if point.Index < s.point.Index {
			return fmt.Errorf("installed snapshot %d is older than the compaction point %d", point.Index, s.point.Index)
		}
		// The whole log is replaced by the snapshot: no entry in any
		// segment is live any more.
		s.point = point
		s.base = point.Index
		s.positions.reset()
		for _, older := range s.segments {
			older.maxIndex = 0
		}
		current.maxIndex = point.Index
	default:
		return fmt.Errorf("unknown record type %d", r.kind)
	}
	return nil
}
