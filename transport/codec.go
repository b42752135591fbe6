package transport

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
)

// Version is the first byte of every encoded message and batch, and the
// second of every stream header. A decoder refuses any other value, so a
// future format can change everything after it. Version 1 carries a snapshot's
// membership as raft's membership encoding of format 1 without its version
// byte (raft.AppendMembershipBody), which Version implies: a new
// raft.MembershipFormat needs a new Version, and peers that agree on one
// before they send it (TestFormat1MessagesAreUnchanged fails until then).
const Version byte = 1

// DefaultMaxMessageBytes is the size limit of one encoded message (snapshot
// data excluded: it is streamed in chunks) when a caller passes zero.
const DefaultMaxMessageBytes = 8 << 20

// ErrMalformed is wrapped by every error DecodeMessage and DecodeBatch return:
// the input was truncated, carried trailing bytes, an unknown version, type or
// flag, a varint that was overlong or not minimal, or a length beyond the
// input or the size limit.
var ErrMalformed = errors.New("transport: malformed message")

// Flag bits of the third byte of a message.
const (
	flagReject   = 1 << 0
	flagTransfer = 1 << 1
	flagSnapshot = 1 << 2
	flagsKnown   = flagReject | flagTransfer | flagSnapshot
)

// Smallest possible encodings, used to bound counts read from the input
// before anything is allocated for them.
const (
	minEntryBytes       = 4  // index delta, term delta, type, data length
	minMessageBodyBytes = 13 // type, flags, nine varints, context length, entry count
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// EncodedSize returns the exact number of bytes AppendMessage appends for m.
// It is cheap (no allocation) and safe for concurrent use.
func EncodedSize(m raft.Message) int {
	return 1 + messageBodySize(m)
}

// AppendMessage appends the encoding of m (version byte first) to dst and
// returns the extended slice. Safe for concurrent use; m is only read.
func AppendMessage(dst []byte, m raft.Message) []byte {
	dst = append(dst, Version)
	return appendMessageBody(dst, m)
}

// DecodeMessage decodes one message encoded by AppendMessage. Inputs larger
// than maxMessageBytes (DefaultMaxMessageBytes when it is zero or negative)
// are refused. The byte slices of the result (entry data, context, snapshot
// data) alias data; the caller must not modify data while it uses them.
// Every error wraps ErrMalformed; DecodeMessage never panics. Safe for
// concurrent use.
func DecodeMessage(data []byte, maxMessageBytes int) (raft.Message, error) {
	if maxMessageBytes <= 0 {
		maxMessageBytes = DefaultMaxMessageBytes
	}
	if len(data) > maxMessageBytes {
		return raft.Message{}, malformed("message of %d bytes exceeds the limit of %d", len(data), maxMessageBytes)
	}
	if len(data) == 0 {
		return raft.Message{}, malformed("empty input")
	}
	if data[0] != Version {
		return raft.Message{}, malformed("unknown version %d", data[0])
	}
	return decodeMessageBody(data[1:])
}

// AppendBatch appends the encoding of a batch of messages to dst: the version
// byte, the number of messages, then each message body (a message encoding
// without its version byte) prefixed by its length. Safe for concurrent use.
func AppendBatch(dst []byte, messages []raft.Message) []byte {
	dst = append(dst, Version)
	dst = binary.AppendUvarint(dst, uint64(len(messages)))
	for i := range messages {
		dst = binary.AppendUvarint(dst, uint64(messageBodySize(messages[i])))
		dst = appendMessageBody(dst, messages[i])
	}
	return dst
}

// DecodeBatch decodes a batch encoded by AppendBatch. Each message may be at
// most maxMessageBytes long (DefaultMaxMessageBytes when zero or negative);
// the batch as a whole is bounded only by the input. Byte slices in the
// result alias data. Every error wraps ErrMalformed; DecodeBatch never
// panics.
func DecodeBatch(data []byte, maxMessageBytes int) ([]raft.Message, error) {
	var messages []raft.Message
	err := forEachInBatch(data, maxMessageBytes, func(body []byte) error {
		m, err := decodeMessageBody(body)
		if err != nil {
			return err
		}
		messages = append(messages, m)
		return nil
	})
	return messages, err
}

// forEachInBatch checks the framing of a batch and calls visit with each
// message body in order, stopping at the first error. The transport uses it
// to drop one undecodable message without losing the rest of its batch.
func forEachInBatch(data []byte, maxMessageBytes int, visit func(body []byte) error) error {
	if maxMessageBytes <= 0 {
		maxMessageBytes = DefaultMaxMessageBytes
	}
	if len(data) == 0 {
		return malformed("empty batch")
	}
	if data[0] != Version {
		return malformed("unknown batch version %d", data[0])
	}
	r := reader{data: data[1:]}
	count := r.uvarint("batch count")
	if r.err == nil && count > uint64(r.remaining()/(1+minMessageBodyBytes)) {
		return malformed("batch count %d exceeds what %d bytes can hold", count, r.remaining())
	}
	for i := uint64(0); i < count && r.err == nil; i++ {
		size := r.uvarint("message length")
		if r.err != nil {
			break
		}
		if size > uint64(maxMessageBytes) {
			return malformed("message %d of %d bytes exceeds the limit of %d", i, size, maxMessageBytes)
		}
		body := r.bytes(size, "message body")
		if r.err != nil {
			break
		}
		if err := visit(body); err != nil {
			return fmt.Errorf("batch message %d: %w", i, err)
		}
	}
	if r.err != nil {
		return r.err
	}
	if r.remaining() != 0 {
		return malformed("%d trailing bytes after batch", r.remaining())
	}
	return nil
}

func messageBodySize(m raft.Message) int {
	size := 2 // type, flags
	size += uvarintSize(uint64(m.From)) + uvarintSize(uint64(m.To)) + uvarintSize(m.Term)
	size += uvarintSize(m.LogIndex) + uvarintSize(m.LogTerm) + uvarintSize(m.Commit)
	size += uvarintSize(m.Index) + uvarintSize(m.HintIndex) + uvarintSize(m.HintTerm)
	size += uvarintSize(uint64(len(m.Context))) + len(m.Context)
	size += uvarintSize(uint64(len(m.Entries)))
	expectedIndex, previousTerm := m.LogIndex+1, m.Term
	for i := range m.Entries {
		entry := &m.Entries[i]
		size += uvarintSize(zigzag(entry.Index-expectedIndex)) + uvarintSize(zigzag(entry.Term-previousTerm))
		size += 1 + uvarintSize(uint64(len(entry.Data))) + len(entry.Data)
		expectedIndex, previousTerm = entry.Index+1, entry.Term
	}
	if s := m.Snapshot; s != nil {
		size += uvarintSize(s.Metadata.Index) + uvarintSize(s.Metadata.Term)
		size += raft.MembershipBodySize(s.Metadata.Membership)
		size += uvarintSize(uint64(len(s.Data))) + len(s.Data)
	}
	return size
}

func appendMessageBody(dst []byte, m raft.Message) []byte {
	var flags byte
	if m.Reject {
		flags |= flagReject
	}
	if m.Transfer {
		flags |= flagTransfer
	}
	if m.Snapshot != nil {
		flags |= flagSnapshot
	}
	dst = append(dst, byte(m.Type), flags)
	dst = binary.AppendUvarint(dst, uint64(m.From))
	dst = binary.AppendUvarint(dst, uint64(m.To))
	dst = binary.AppendUvarint(dst, m.Term)
	dst = binary.AppendUvarint(dst, m.LogIndex)
	dst = binary.AppendUvarint(dst, m.LogTerm)
	dst = binary.AppendUvarint(dst, m.Commit)
	dst = binary.AppendUvarint(dst, m.Index)
	dst = binary.AppendUvarint(dst, m.HintIndex)
	dst = binary.AppendUvarint(dst, m.HintTerm)
	dst = binary.AppendUvarint(dst, uint64(len(m.Context)))
	dst = append(dst, m.Context...)
	dst = binary.AppendUvarint(dst, uint64(len(m.Entries)))
	// Entries are usually consecutive and of the sender's term, so each index
	// is stored as the difference from the expected one and each term as the
	// difference from the previous entry's (zigzag, wrapping): one byte each.
	expectedIndex, previousTerm := m.LogIndex+1, m.Term
	for i := range m.Entries {
		entry := &m.Entries[i]
		dst = binary.AppendUvarint(dst, zigzag(entry.Index-expectedIndex))
		dst = binary.AppendUvarint(dst, zigzag(entry.Term-previousTerm))
		dst = append(dst, byte(entry.Type))
		dst = binary.AppendUvarint(dst, uint64(len(entry.Data)))
		dst = append(dst, entry.Data...)
		expectedIndex, previousTerm = entry.Index+1, entry.Term
	}
	if s := m.Snapshot; s != nil {
		dst = binary.AppendUvarint(dst, s.Metadata.Index)
		dst = binary.AppendUvarint(dst, s.Metadata.Term)
		dst = raft.AppendMembershipBody(dst, s.Metadata.Membership)
		dst = binary.AppendUvarint(dst, uint64(len(s.Data)))
		dst = append(dst, s.Data...)
	}
	return dst
}

func decodeMessageBody(data []byte) (raft.Message, error) {
	r := reader{data: data}
	var m raft.Message
	m.Type = raft.MessageType(r.byte("type"))
	flags := r.byte("flags")
	if r.err != nil {
		return raft.Message{}, r.err
	}
	if m.Type < raft.MessageAppend || m.Type > raft.MessageTimeoutNow {
		return raft.Message{}, malformed("unknown message type %d", byte(m.Type))
	}
	if flags&^flagsKnown != 0 {
		return raft.Message{}, malformed("unknown flags %#x", flags)
	}
	m.Reject = flags&flagReject != 0
	m.Transfer = flags&flagTransfer != 0
	m.From = raft.NodeID(r.uvarint("from"))
	m.To = raft.NodeID(r.uvarint("to"))
	m.Term = r.uvarint("term")
	m.LogIndex = r.uvarint("log index")
	m.LogTerm = r.uvarint("log term")
	m.Commit = r.uvarint("commit")
	m.Index = r.uvarint("index")
	m.HintIndex = r.uvarint("hint index")
	m.HintTerm = r.uvarint("hint term")
	m.Context = r.lengthPrefixed("context length", "context")
	count := r.uvarint("entry count")
	if r.err == nil && count > uint64(r.remaining()/minEntryBytes) {
		return raft.Message{}, malformed("entry count %d exceeds what %d bytes can hold", count, r.remaining())
	}
	if r.err == nil && count > 0 {
		m.Entries = make([]raft.Entry, count)
		expectedIndex, previousTerm := m.LogIndex+1, m.Term
		for i := range m.Entries {
			entry := &m.Entries[i]
			entry.Index = expectedIndex + unzigzag(r.uvarint("entry index"))
			entry.Term = previousTerm + unzigzag(r.uvarint("entry term"))
			entry.Type = raft.EntryType(r.byte("entry type"))
			if r.err == nil && entry.Type > raft.EntryMembership {
				return raft.Message{}, malformed("entry %d: unknown type %d", i, byte(entry.Type))
			}
			entry.Data = r.lengthPrefixed("entry data length", "entry data")
			if r.err != nil {
				break
			}
			expectedIndex, previousTerm = entry.Index+1, entry.Term
		}
	}
	if r.err == nil && flags&flagSnapshot != 0 {
		s := &raft.Snapshot{}
		s.Metadata.Index = r.uvarint("snapshot index")
		s.Metadata.Term = r.uvarint("snapshot term")
		s.Metadata.Membership = r.membership("snapshot membership")
		s.Data = r.lengthPrefixed("snapshot data length", "snapshot data")
		m.Snapshot = s
	}
	if r.err != nil {
		return raft.Message{}, r.err
	}
	if r.remaining() != 0 {
		return raft.Message{}, malformed("%d trailing bytes", r.remaining())
	}
	return m, nil
}

func uvarintSize(v uint64) int {
	size := 1
	for v >= 0x80 {
		v >>= 7
		size++
	}
	return size
}

func zigzag(v uint64) uint64   { return (v << 1) ^ uint64(int64(v)>>63) }
func unzigzag(v uint64) uint64 { return (v >> 1) ^ -(v & 1) }

// reader decodes from a byte slice, remembering the first error so that a
// run of reads needs one check at the end. After an error every read
// returns a zero value.
type reader struct {
	data   []byte
	offset int
	err    error
}

func (r *reader) remaining() int { return len(r.data) - r.offset }

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = malformed(format+" at offset %d", append(args, r.offset)...)
	}
}

func (r *reader) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if r.remaining() < 1 {
		r.fail("truncated %s", what)
		return 0
	}
	b := r.data[r.offset]
	r.offset++
	return b
}

// uvarint reads a minimal (canonical) unsigned varint of at most ten bytes.
func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.data[r.offset:])
	switch {
	case n == 0:
		r.fail("truncated %s", what)
		return 0
	case n < 0:
		r.fail("overlong varint in %s", what)
		return 0
	case n > 1 && r.data[r.offset+n-1] == 0:
		r.fail("non-minimal varint in %s", what)
		return 0
	}
	r.offset += n
	return v
}

func (r *reader) bytes(size uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if size > uint64(r.remaining()) {
		r.fail("%s of %d bytes exceeds the %d remaining", what, size, r.remaining())
		return nil
	}
	if size == 0 {
		return nil
	}
	b := r.data[r.offset : r.offset+int(size) : r.offset+int(size)]
	r.offset += int(size)
	return b
}

// lengthPrefixed reads a length and that many bytes. The two names are
// passed separately: building one from the other would allocate.
func (r *reader) lengthPrefixed(lengthWhat, what string) []byte {
	return r.bytes(r.uvarint(lengthWhat), what)
}

// membership reads a membership in raft's encoding without its version
// byte, which Version implies (see Version).
func (r *reader) membership(what string) raft.Membership {
	if r.err != nil {
		return raft.Membership{}
	}
	m, size, err := raft.ReadMembershipBody(r.data[r.offset:])
	if err != nil {
		r.err = fmt.Errorf("%w: %s at offset %d: %w", ErrMalformed, what, r.offset, err)
		return raft.Membership{}
	}
	r.offset += size
	return m
}

func (r *reader) uint32(what string) uint32 {
	if r.err != nil {
		return 0
	}
	if r.remaining() < 4 {
		r.fail("truncated %s", what)
		return 0
	}
	v := binary.BigEndian.Uint32(r.data[r.offset:])
	r.offset += 4
	return v
}
