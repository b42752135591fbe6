package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

// sampleMessages covers every field and message type, with extreme values.
func sampleMessages() []raft.Message {
	return []raft.Message{
		{Type: raft.MessageHeartbeat, From: 1, To: 2, Term: 3, Commit: 7},
		{Type: raft.MessageHeartbeatResponse, From: 2, To: 1, Term: 3, Context: []byte("read-42")},
		{
			Type: raft.MessageAppend, From: 1, To: 3, Term: 5, LogIndex: 10, LogTerm: 4, Commit: 9,
			Entries: []raft.Entry{
				{Index: 11, Term: 4, Type: raft.EntryNormal, Data: []byte("set x=1")},
				{Index: 12, Term: 5, Type: raft.EntryMembership, Data: []byte{0, 1, 2}},
				{Index: 13, Term: 5},
			},
		},
		{Type: raft.MessageAppendResponse, From: 3, To: 1, Term: 5, Reject: true, Index: 10, HintIndex: 8, HintTerm: 2},
		{Type: raft.MessageAppendResponse, From: 3, To: 1, Term: 5, Index: 13},
		{Type: raft.MessageVote, From: 2, To: 1, Term: 6, LogIndex: 13, LogTerm: 5, Transfer: true},
		{Type: raft.MessageVoteResponse, From: 1, To: 2, Term: 6, Reject: true},
		{Type: raft.MessagePreVote, From: 2, To: 3, Term: 7, LogIndex: 13, LogTerm: 5},
		{Type: raft.MessagePreVoteResponse, From: 3, To: 2, Term: 7},
		{
			Type: raft.MessageSnapshot, From: 1, To: 4, Term: 8,
			Snapshot: &raft.Snapshot{
				Metadata: raft.SnapshotMetadata{Index: 100, Term: 7, Membership: raft.Membership{
					Voters: []raft.NodeID{1, 2, 3}, OutgoingVoters: []raft.NodeID{1, 2, 5}, Learners: []raft.NodeID{4},
				}},
				Data: bytes.Repeat([]byte("state"), 100),
			},
		},
		{Type: raft.MessageSnapshot, From: 1, To: 4, Term: 8, Snapshot: &raft.Snapshot{}},
		{Type: raft.MessageReadIndex, From: 2, To: 1, Term: 8, Context: []byte{0xff}},
		{Type: raft.MessageReadIndexResponse, From: 1, To: 2, Term: 8, Index: 99, Context: []byte{0xff}},
		{Type: raft.MessageTimeoutNow, From: 1, To: 2, Term: 8},
		{
			Type: raft.MessageAppend, From: math.MaxUint64, To: math.MaxUint64, Term: math.MaxUint64,
			LogIndex: math.MaxUint64, LogTerm: math.MaxUint64, Commit: math.MaxUint64, Index: math.MaxUint64,
			HintIndex: math.MaxUint64, HintTerm: math.MaxUint64, Reject: true, Transfer: true,
			Entries: []raft.Entry{{Index: 0, Term: 0}, {Index: math.MaxUint64, Term: math.MaxUint64}, {Index: 5, Term: 1}},
		},
	}
}

// normalized maps empty slices to nil, the form a decoder produces.
func normalized(m raft.Message) raft.Message {
	nilIfEmpty := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		return b
	}
	ids := func(list []raft.NodeID) []raft.NodeID {
		if len(list) == 0 {
			return nil
		}
		return list
	}
	m.Context = nilIfEmpty(m.Context)
	if len(m.Entries) == 0 {
		m.Entries = nil
	} else {
		entries := make([]raft.Entry, len(m.Entries))
		for i, e := range m.Entries {
			e.Data = nilIfEmpty(e.Data)
			entries[i] = e
		}
		m.Entries = entries
	}
	if m.Snapshot != nil {
		s := *m.Snapshot
		s.Data = nilIfEmpty(s.Data)
		s.Metadata.Membership.Voters = ids(s.Metadata.Membership.Voters)
		s.Metadata.Membership.OutgoingVoters = ids(s.Metadata.Membership.OutgoingVoters)
		s.Metadata.Membership.Learners = ids(s.Metadata.Membership.Learners)
		m.Snapshot = &s
	}
	return m
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		encoded := AppendMessage(nil, m)
		if len(encoded) != EncodedSize(m) {
			t.Errorf("%v: EncodedSize %d, encoded %d bytes", m, EncodedSize(m), len(encoded))
		}
		decoded, err := DecodeMessage(encoded, 0)
		if err != nil {
			t.Fatalf("%v: decode: %v", m, err)
		}
		if !reflect.DeepEqual(normalized(m), decoded) {
			t.Errorf("round trip changed the message:\n sent %#v\n  got %#v", m, decoded)
		}
	}
}

func TestBatchRoundTrip(t *testing.T) {
	messages := sampleMessages()
	encoded := AppendBatch(nil, messages)
	decoded, err := DecodeBatch(encoded, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(decoded) != len(messages) {
		t.Fatalf("decoded %d messages, want %d", len(decoded), len(messages))
	}
	for i := range messages {
		if !reflect.DeepEqual(normalized(messages[i]), decoded[i]) {
			t.Errorf("message %d changed:\n sent %#v\n  got %#v", i, messages[i], decoded[i])
		}
	}
	empty, err := DecodeBatch(AppendBatch(nil, nil), 0)
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty batch: %v, %d messages", err, len(empty))
	}
}

func TestAppendIsCompact(t *testing.T) {
	// A heartbeat with small numbers fits in a handful of bytes, and
	// consecutive entries of the current term cost two bytes of header each
	// beyond their data length.
	heartbeat := raft.Message{Type: raft.MessageHeartbeat, From: 1, To: 2, Term: 3, Commit: 7}
	if size := EncodedSize(heartbeat); size > 16 {
		t.Errorf("heartbeat encodes to %d bytes", size)
	}
	appendMessage := raft.Message{Type: raft.MessageAppend, From: 1, To: 2, Term: 3, LogIndex: 1 << 40, LogTerm: 3}
	base := EncodedSize(appendMessage)
	for i := uint64(1); i <= 100; i++ {
		appendMessage.Entries = append(appendMessage.Entries, raft.Entry{Index: 1<<40 + i, Term: 3, Data: make([]byte, 10)})
	}
	if perEntry := (EncodedSize(appendMessage) - base) / 100; perEntry != 14 {
		t.Errorf("each 10-byte entry costs %d bytes, want 14", perEntry)
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	valid := AppendMessage(nil, sampleMessages()[2])
	cases := map[string][]byte{
		"empty":              {},
		"wrong version":      append([]byte{2}, valid[1:]...),
		"trailing byte":      append(append([]byte{}, valid...), 0),
		"unknown type 0":     {Version, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0},
		"unknown type 200":   {Version, 200, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0},
		"unknown flag":       {Version, 1, 0x80, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0},
		"non-minimal varint": {Version, 1, 0, 0x81, 0x00, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0},
		"overlong varint":    {Version, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"huge context":       {Version, 1, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge entry count":   {Version, 1, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"unknown entry type": {Version, 1, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 9, 0},
		"huge voter count":   {Version, 9, flagSnapshot, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0xff, 0x0f},
	}
	for i := 1; i < len(valid); i++ {
		cases[fmt.Sprintf("truncated to %d bytes", i)] = valid[:i]
	}
	for name, input := range cases {
		if _, err := DecodeMessage(input, 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	if _, err := DecodeMessage(valid, len(valid)-1); !errors.Is(err, ErrMalformed) {
		t.Errorf("over the size limit: got %v, want ErrMalformed", err)
	}
	if _, err := DecodeMessage(valid, len(valid)); err != nil {
		t.Errorf("at the size limit: %v", err)
	}
}

func TestDecodeBatchRejectsBadInput(t *testing.T) {
	messages := sampleMessages()[:3]
	valid := AppendBatch(nil, messages)
	largest := 0
	for _, m := range messages {
		largest = max(largest, EncodedSize(m)-1)
	}
	if _, err := DecodeBatch(valid, largest); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if _, err := DecodeBatch(valid, largest-1); !errors.Is(err, ErrMalformed) {
		t.Errorf("message over the limit: got %v", err)
	}
	for i := 0; i < len(valid); i++ {
		if _, err := DecodeBatch(valid[:i], 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("truncated to %d bytes: got %v", i, err)
		}
	}
	if _, err := DecodeBatch(append(append([]byte{}, valid...), 1), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: got %v", err)
	}
	huge := binary.AppendUvarint([]byte{Version}, 1<<40)
	if _, err := DecodeBatch(huge, 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("absurd count: got %v", err)
	}
}

func TestRandomMessagesRoundTrip(t *testing.T) {
	random := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		m := randomMessage(random)
		decoded, err := DecodeMessage(AppendMessage(nil, m), 0)
		if err != nil {
			t.Fatalf("%v: %v", m, err)
		}
		if !reflect.DeepEqual(normalized(m), decoded) {
			t.Fatalf("round trip changed the message:\n sent %#v\n  got %#v", m, decoded)
		}
	}
}

func randomMessage(random *rand.Rand) raft.Message {
	number := func() uint64 {
		switch random.IntN(4) {
		case 0:
			return 0
		case 1:
			return random.Uint64()
		default:
			return random.Uint64N(1000)
		}
	}
	bytesOf := func() []byte {
		b := make([]byte, random.IntN(20))
		for i := range b {
			b[i] = byte(random.Uint32())
		}
		return b
	}
	m := raft.Message{
		Type: raft.MessageType(1 + random.IntN(int(raft.MessageTimeoutNow))),
		From: raft.NodeID(number()), To: raft.NodeID(number()), Term: number(),
		LogIndex: number(), LogTerm: number(), Commit: number(), Reject: random.IntN(2) == 0,
		Index: number(), HintIndex: number(), HintTerm: number(), Context: bytesOf(),
		Transfer: random.IntN(2) == 0,
	}
	for range random.IntN(5) {
		m.Entries = append(m.Entries, raft.Entry{Index: number(), Term: number(), Type: raft.EntryType(random.IntN(2)), Data: bytesOf()})
	}
	if random.IntN(3) == 0 {
		// A valid membership, which the decoder requires: no ID 0, none
		// in two lists.
		used := map[uint64]bool{0: true}
		ids := func() []raft.NodeID {
			var list []raft.NodeID
			for range random.IntN(4) {
				if id := number(); !used[id] {
					used[id] = true
					list = append(list, raft.NodeID(id))
				}
			}
			return list
		}
		m.Snapshot = &raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: number(), Term: number(),
			Membership: raft.Membership{Voters: ids(), OutgoingVoters: ids(), Learners: ids()}}, Data: bytesOf()}
	}
	return m
}

// A snapshot's membership travels in raft's encoding (its body: Version
// fixes the format), and one raft would refuse is refused here too.
func TestSnapshotMembershipIsRaftsEncoding(t *testing.T) {
	membership := raft.Membership{Voters: []raft.NodeID{1, 2, 300}, OutgoingVoters: []raft.NodeID{1, 2}, Learners: []raft.NodeID{9}}
	m := raft.Message{Type: raft.MessageSnapshot, From: 1, To: 9, Term: 4,
		Snapshot: &raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 50, Term: 4, Membership: membership}, Data: []byte("image")}}
	encoded := AppendMessage(nil, m)
	body := raft.AppendMembershipBody(nil, membership)
	at := bytes.Index(encoded, body)
	if at < 0 || !bytes.Equal(encoded[at+len(body):], append([]byte{byte(len("image"))}, "image"...)) {
		t.Fatalf("encoding %x does not hold raft's membership body %x before the data", encoded, body)
	}
	invalid := raft.AppendMembershipBody(nil, raft.Membership{Voters: []raft.NodeID{1, 2, 300}, OutgoingVoters: []raft.NodeID{1, 2}, Learners: []raft.NodeID{2}})
	if len(invalid) != len(body) {
		t.Fatal("the invalid membership must encode to the same length")
	}
	bad := append(append(append([]byte(nil), encoded[:at]...), invalid...), encoded[at+len(body):]...)
	if _, err := DecodeMessage(bad, 0); !errors.Is(err, ErrMalformed) || !errors.Is(err, raft.ErrBadMembership) {
		t.Fatalf("a membership with a node in two roles decoded with error %v", err)
	}
}
