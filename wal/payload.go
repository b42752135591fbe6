package wal

import (
	"encoding/binary"
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
)

// This file converts the raft types to and from record payloads. Decoders
// check every length: a payload comes from disk and must never make them
// panic.

func entryRecord(entry raft.Entry) record {
	payload := make([]byte, 1+len(entry.Data))
	payload[0] = byte(entry.Type)
	copy(payload[1:], entry.Data)
	return record{kind: recordEntry, index: entry.Index, term: entry.Term, payload: payload}
}

// decodeEntry returns the entry held in r, copying its data so that it
// does not alias a read buffer.
func decodeEntry(r record) (raft.Entry, error) {
	if len(r.payload) < 1 {
		return raft.Entry{}, fmt.Errorf("entry record at index %d has no type byte", r.index)
	}
	entry := raft.Entry{Index: r.index, Term: r.term, Type: raft.EntryType(r.payload[0])}
	if len(r.payload) > 1 {
		entry.Data = append([]byte(nil), r.payload[1:]...)
	}
	return entry, nil
}

func hardStateRecord(state raft.HardState) record {
	payload := binary.LittleEndian.AppendUint64(nil, uint64(state.Vote))
	return record{kind: recordHardState, index: state.Commit, term: state.Term, payload: payload}
}

func decodeHardState(r record) (raft.HardState, error) {
	if len(r.payload) != 8 {
		return raft.HardState{}, fmt.Errorf("hard state record payload is %d bytes, want 8", len(r.payload))
	}
	return raft.HardState{Term: r.term, Vote: raft.NodeID(binary.LittleEndian.Uint64(r.payload)), Commit: r.index}, nil
}

// pointRecord records a compaction point or an installed snapshot. Its
// payload is the membership in raft's encoding (segment format 2).
func pointRecord(kind recordType, metadata raft.SnapshotMetadata) record {
	return record{kind: kind, index: metadata.Index, term: metadata.Term, payload: raft.EncodeMembership(metadata.Membership)}
}

// decodePoint decodes a point record of a segment of the given format
// version.
func decodePoint(r record, version uint32) (raft.SnapshotMetadata, error) {
	decode := raft.DecodeMembership
	if version == 1 {
		decode = raft.DecodeLegacyMembership
	}
	membership, err := decode(r.payload)
	if err != nil {
		return raft.SnapshotMetadata{}, fmt.Errorf("snapshot point at index %d: %w", r.index, err)
	}
	return raft.SnapshotMetadata{Index: r.index, Term: r.term, Membership: membership}, nil
}
