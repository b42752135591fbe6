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

// pointRecord records a compaction point or an installed snapshot.
func pointRecord(kind recordType, metadata raft.SnapshotMetadata) record {
	return record{kind: kind, index: metadata.Index, term: metadata.Term, payload: EncodeMembership(nil, metadata.Membership)}
}

func decodePoint(r record) (raft.SnapshotMetadata, error) {
	membership, err := DecodeMembership(r.payload)
	if err != nil {
		return raft.SnapshotMetadata{}, fmt.Errorf("snapshot point at index %d: %w", r.index, err)
	}
	return raft.SnapshotMetadata{Index: r.index, Term: r.term, Membership: membership}, nil
}

// EncodeMembership appends the encoding of membership to buffer: for each of
// Voters, OutgoingVoters and Learners, a 4-byte count then 8 bytes per ID,
// little endian. The snap package stores membership the same way.
func EncodeMembership(buffer []byte, membership raft.Membership) []byte {
	for _, list := range [][]raft.NodeID{membership.Voters, membership.OutgoingVoters, membership.Learners} {
		buffer = binary.LittleEndian.AppendUint32(buffer, uint32(len(list)))
		for _, id := range list {
			buffer = binary.LittleEndian.AppendUint64(buffer, uint64(id))
		}
	}
	return buffer
}

// DecodeMembership decodes what EncodeMembership wrote. It returns an error,
// never panics, if data is malformed.
func DecodeMembership(data []byte) (raft.Membership, error) {
	var lists [3][]raft.NodeID
	for i := range lists {
		if len(data) < 4 {
			return raft.Membership{}, fmt.Errorf("membership cut short")
		}
		count := uint64(binary.LittleEndian.Uint32(data))
		data = data[4:]
		if count > uint64(len(data))/8 {
			return raft.Membership{}, fmt.Errorf("membership list of %d IDs does not fit in %d bytes", count, len(data))
		}
		if count > 0 {
			lists[i] = make([]raft.NodeID, count)
			for j := range lists[i] {
				lists[i][j] = raft.NodeID(binary.LittleEndian.Uint64(data[8*j:]))
			}
		}
		data = data[8*count:]
	}
	if len(data) != 0 {
		return raft.Membership{}, fmt.Errorf("membership has %d trailing bytes", len(data))
	}
	return raft.Membership{Voters: lists[0], OutgoingVoters: lists[1], Learners: lists[2]}, nil
}
