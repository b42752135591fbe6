package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/lockstepdb/lockstep/internal/mutation"
)

// recordType says what a record holds.
type recordType uint8

const (
	// recordEntry holds one raft.Entry: payload is the entry type byte
	// followed by the entry's data. An entry at an index at or below the
	// last one replaces it and everything after (a truncated suffix).
	recordEntry recordType = 1
	// recordHardState holds a raft.HardState: index is Commit, term is
	// Term, payload is the vote (8 bytes).
	recordHardState recordType = 2
	// recordCompaction records that every entry up to index (whose term is
	// term) is covered by a snapshot and may be discarded; entries after it
	// are kept. Payload is the snapshot's membership.
	recordCompaction recordType = 3
	// recordSnapshot records that a snapshot at index/term was installed:
	// the whole log is discarded and restarts after index. Payload is the
	// snapshot's membership.
	recordSnapshot recordType = 4
)

// recordFlagBatchEnd marks the last record of a batch: the records written
// by one write and made durable by one fsync. Recovery uses batch
// boundaries to tell a torn write (which can only damage the last batch)
// from corruption.
const recordFlagBatchEnd = 1

// recordHeaderSize is the size of the fixed record header.
const recordHeaderSize = 32

// recordAlignment is the alignment of every record; the payload is padded
// with zeros up to it. Alignment lets recovery look for intact records
// after a damaged one without knowing the damaged one's length.
const recordAlignment = 8

// record is one decoded record. Layout, little endian:
//
//	offset  size  field
//	0       4     CRC-32C of bytes 4..end of padding
//	4       4     payload length (without padding)
//	8       1     record type
//	9       1     flags (bit 0: last record of its batch)
//	10      2     zero
//	12      4     batch number
//	16      8     index
//	24      8     term
//	32      n     payload, then zero padding to a multiple of 8
type record struct {
	kind    recordType
	flags   uint8
	batch   uint32
	index   uint64
	term    uint64
	payload []byte
}

func (r record) endsBatch() bool { return r.flags&recordFlagBatchEnd != 0 }

// encodedRecordSize is the number of bytes a record with payloadLength
// bytes of payload occupies.
func encodedRecordSize(payloadLength int) int {
	return recordHeaderSize + alignUp(payloadLength)
}

func alignUp(size int) int { return (size + recordAlignment - 1) &^ (recordAlignment - 1) }

// appendRecord appends the encoding of r to buffer.
func appendRecord(buffer []byte, r record) []byte {
	buffer, encoded := growRecord(buffer, r.kind, r.flags, r.batch, r.index, r.term, len(r.payload))
	copy(encoded[recordHeaderSize:], r.payload)
	sealRecord(encoded)
	return buffer
}

// growRecord extends buffer by the encoded size of a record with
// payloadLength bytes of payload, writes the record's header except its
// checksum, zeroes its padding, and returns the buffer and the record's
// bytes, whose payload the caller fills in before calling sealRecord.
func growRecord(buffer []byte, kind recordType, flags uint8, batch uint32, index, term uint64, payloadLength int) ([]byte, []byte) {
	start := len(buffer)
	size := encodedRecordSize(payloadLength)
	buffer = slices.Grow(buffer, size)[:start+size]
	encoded := buffer[start:]
	binary.LittleEndian.PutUint32(encoded[4:], uint32(payloadLength))
	encoded[8] = byte(kind)
	encoded[9] = flags
	encoded[10], encoded[11] = 0, 0
	binary.LittleEndian.PutUint32(encoded[12:], batch)
	binary.LittleEndian.PutUint64(encoded[16:], index)
	binary.LittleEndian.PutUint64(encoded[24:], term)
	clear(encoded[recordHeaderSize+payloadLength:]) // padding
	return buffer, encoded
}

// sealRecord writes the checksum of the complete record encoded.
func sealRecord(encoded []byte) {
	binary.LittleEndian.PutUint32(encoded, crc32.Checksum(encoded[4:], castagnoli))
}

// errZeroRecord means the bytes where a record should start are zeros:
// either the preallocated space after the last record, or a write that
// never reached the disk.
var errZeroRecord = errors.New("zero bytes where a record should start")

// maxPayloadLength bounds a record's payload (1 GiB) so that a damaged
// length can never make the decoder reach far.
const maxPayloadLength = 1 << 30

// decodeRecord decodes the record at the start of data and returns it with
// its encoded size. The returned payload aliases data. It never panics,
// whatever data holds.
func decodeRecord(data []byte) (record, int, error) {
	if len(data) < recordHeaderSize {
		if isZero(data) {
			return record{}, 0, errZeroRecord
		}
		return record{}, 0, fmt.Errorf("record header cut short: %d of %d bytes", len(data), recordHeaderSize)
	}
	if isZero(data[:recordHeaderSize]) {
		return record{}, 0, errZeroRecord
	}
	length := binary.LittleEndian.Uint32(data[4:])
	if length > maxPayloadLength {
		return record{}, 0, fmt.Errorf("record payload length %d exceeds the limit", length)
	}
	size := encodedRecordSize(int(length))
	if size > len(data) {
		return record{}, 0, fmt.Errorf("record of %d bytes runs past the end of the segment (%d bytes left)", size, len(data))
	}
	// The cheap structural checks come before the checksum: recovery tries
	// to decode at many offsets of a damaged tail, and most fail here.
	if kind := recordType(data[8]); kind < recordEntry || kind > recordSnapshot {
		return record{}, 0, fmt.Errorf("unknown record type %d", kind)
	}
	if data[9]&^recordFlagBatchEnd != 0 || data[10] != 0 || data[11] != 0 {
		return record{}, 0, fmt.Errorf("record has unknown flags %#x or nonzero reserved bytes", data[9])
	}
	if got, want := binary.LittleEndian.Uint32(data), crc32.Checksum(data[4:size], castagnoli); got != want && !mutation.On(mutation.WALSkipChecksum) {
		return record{}, 0, fmt.Errorf("record checksum %08x, want %08x", got, want)
	}
	// Padding is covered by the checksum, so nonzero padding in a record
	// that passed it means a writer that does not follow this format.
	if !isZero(data[recordHeaderSize+int(length) : size]) {
		return record{}, 0, errors.New("record padding is not zero")
	}
	r := record{
		kind:    recordType(data[8]),
		flags:   data[9],
		batch:   binary.LittleEndian.Uint32(data[12:]),
		index:   binary.LittleEndian.Uint64(data[16:]),
		term:    binary.LittleEndian.Uint64(data[24:]),
		payload: data[recordHeaderSize : recordHeaderSize+int(length)],
	}
	return r, size, nil
}

func isZero(data []byte) bool {
	for _, b := range data {
		if b != 0 {
			return false
		}
	}
	return true
}
