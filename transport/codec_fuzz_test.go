package transport

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

// fuzzMaxMessageBytes keeps the fuzzer's inputs small and exercises the
// size limit.
const fuzzMaxMessageBytes = 1 << 16

// FuzzDecodeMessage feeds arbitrary bytes to DecodeMessage: it must never
// panic, must fail only with ErrMalformed, and what it accepts must be
// canonical: encoding the result gives back the input exactly.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(AppendMessage(nil, m))
	}
	f.Add([]byte{})
	f.Add([]byte{Version})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data, fuzzMaxMessageBytes)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if len(data) > fuzzMaxMessageBytes {
			t.Fatalf("accepted %d bytes over the limit", len(data))
		}
		again := AppendMessage(nil, m)
		if !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n input %x\n again %x", data, again)
		}
		if EncodedSize(m) != len(data) {
			t.Fatalf("EncodedSize %d, input %d bytes", EncodedSize(m), len(data))
		}
	})
}

// FuzzDecodeBatch is FuzzDecodeMessage for batches.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(AppendBatch(nil, sampleMessages()))
	f.Add(AppendBatch(nil, sampleMessages()[:1]))
	f.Add(AppendBatch(nil, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		messages, err := DecodeBatch(data, fuzzMaxMessageBytes)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again := AppendBatch(nil, messages)
		if !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n input %x\n again %x", data, again)
		}
	})
}

// FuzzMessageRoundTrip builds messages from fuzzed field values and checks
// that decoding their encoding gives them back.
func FuzzMessageRoundTrip(f *testing.F) {
	f.Add(uint8(1), uint64(1), uint64(2), uint64(3), uint64(10), uint64(2), uint64(9), uint64(0), uint64(0), uint64(0), uint8(0), []byte("ctx"), []byte("entry"), uint64(11), uint64(3), uint8(3))
	f.Add(uint8(9), uint64(1), uint64(4), uint64(8), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint8(4), []byte{}, []byte("snapshot"), uint64(100), uint64(7), uint8(0))
	f.Fuzz(func(t *testing.T, messageType uint8, from, to, term, logIndex, logTerm, commit, index, hintIndex, hintTerm uint64,
		flags uint8, context, data []byte, entryIndex, entryTerm uint64, entryCount uint8) {
		m := raft.Message{
			Type: raft.MessageType(1 + messageType%uint8(raft.MessageTimeoutNow)),
			From: raft.NodeID(from), To: raft.NodeID(to), Term: term, LogIndex: logIndex, LogTerm: logTerm,
			Commit: commit, Index: index, HintIndex: hintIndex, HintTerm: hintTerm,
			Reject: flags&1 != 0, Transfer: flags&2 != 0, Context: context,
		}
		for i := range entryCount % 8 {
			m.Entries = append(m.Entries, raft.Entry{Index: entryIndex + uint64(i)*from, Term: entryTerm + uint64(i)*to, Type: raft.EntryType(i % 2), Data: data})
		}
		if flags&4 != 0 {
			// A valid membership (no ID 0, none in two roles), which the
			// decoder requires, with IDs of every varint length.
			voter := raft.NodeID(from>>1 + 1)
			m.Snapshot = &raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: entryIndex, Term: entryTerm,
				Membership: raft.Membership{Voters: []raft.NodeID{voter}, Learners: []raft.NodeID{voter + 1}}}, Data: data}
		}
		encoded := AppendMessage(nil, m)
		if len(encoded) != EncodedSize(m) {
			t.Fatalf("EncodedSize %d, encoded %d", EncodedSize(m), len(encoded))
		}
		decoded, err := DecodeMessage(encoded, len(encoded))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalized(m), decoded) {
			t.Fatalf("round trip changed the message:\n sent %#v\n  got %#v", m, decoded)
		}
		batch, err := DecodeBatch(AppendBatch(nil, []raft.Message{m, m}), len(encoded))
		if err != nil || len(batch) != 2 || !reflect.DeepEqual(batch[1], decoded) {
			t.Fatalf("batch round trip: %v", err)
		}
	})
}

// FuzzDecodeFrames feeds arbitrary bytes to the decoders of stream frames
// (header, snapshot begin, snapshot chunk): they must never panic and must
// fail only with ErrMalformed.
func FuzzDecodeFrames(f *testing.F) {
	f.Add(appendStreamHeader(nil, streamHeader{clusterID: 7, from: 1, to: 2}))
	snapshot := sampleMessages()[9]
	f.Add(appendSnapshotBegin(nil, snapshot))
	f.Add(appendSnapshotChunk(nil, 1<<20, []byte("chunk of data")))
	f.Fuzz(func(t *testing.T, frame []byte) {
		if header, err := decodeStreamHeader(frame); err == nil {
			if again := appendStreamHeader(nil, header); !bytes.Equal(again, frame) {
				t.Fatalf("header re-encodes differently: %x", again)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
		if m, size, _, err := decodeSnapshotBegin(frame, fuzzMaxMessageBytes); err == nil {
			if m.Snapshot == nil || len(m.Snapshot.Data) != 0 {
				t.Fatalf("begin frame accepted without metadata or with data (size %d)", size)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
		if offset, data, err := decodeSnapshotChunk(frame); err == nil {
			if again := appendSnapshotChunk(nil, offset, data); !bytes.Equal(again, frame) && frame[0] == frameSnapshotChunk {
				// Non-minimal offsets are refused by the reader, so a
				// chunk that decodes re-encodes exactly.
				t.Fatalf("chunk re-encodes differently: %x", again)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
	})
}
