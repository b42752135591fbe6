package wal

import (
	"encoding/binary"

	"github.com/lockstepdb/lockstep/raft"
)

// batchEncoder encodes the records of one batch into a buffer that is
// reused from batch to batch: each entry's type and data are copied once,
// straight into place, and nothing is allocated per record. Only the
// flusher uses it.
type batchEncoder struct {
	buffer []byte
	// starts holds the offset of each record within buffer.
	starts []int
	batch  uint32
}

// maxRetainedBuffer bounds the encoding buffer kept between batches, so
// that one huge batch does not pin its memory for the life of the log.
const maxRetainedBuffer = 4 << 20

// reset starts a batch numbered batch, expected to take about size bytes.
func (e *batchEncoder) reset(batch uint32, size int) {
	if cap(e.buffer) > maxRetainedBuffer {
		e.buffer, e.starts = nil, nil
	}
	if cap(e.buffer) < size {
		e.buffer = make([]byte, 0, size)
	}
	e.buffer = e.buffer[:0]
	e.starts = e.starts[:0]
	e.batch = batch
}

// add appends r (its batch number and flags are set by the encoder).
func (e *batchEncoder) add(r record) {
	e.starts = append(e.starts, len(e.buffer))
	var encoded []byte
	e.buffer, encoded = growRecord(e.buffer, r.kind, 0, e.batch, r.index, r.term, len(r.payload))
	copy(encoded[recordHeaderSize:], r.payload)
}

// addEntry appends the record of entry: payload is its type, then its data.
func (e *batchEncoder) addEntry(entry raft.Entry) {
	e.starts = append(e.starts, len(e.buffer))
	var encoded []byte
	e.buffer, encoded = growRecord(e.buffer, recordEntry, 0, e.batch, entry.Index, entry.Term, entryPayloadLength(entry))
	encoded[recordHeaderSize] = byte(entry.Type)
	copy(encoded[recordHeaderSize+1:], entry.Data)
}

// finish marks the last record as the end of the batch and checksums
// every record, then returns the encoded batch.
func (e *batchEncoder) finish() []byte {
	for i, start := range e.starts {
		end := len(e.buffer)
		if i+1 < len(e.starts) {
			end = e.starts[i+1]
		} else {
			e.buffer[start+9] |= recordFlagBatchEnd
		}
		sealRecord(e.buffer[start:end])
	}
	return e.buffer
}

// records returns the number of records encoded.
func (e *batchEncoder) records() int { return len(e.starts) }

// record returns the i-th record encoded, its payload aliasing the buffer
// (valid until the next reset), with its offset within the batch and its
// encoded size.
func (e *batchEncoder) record(i int) (record, int64, int64) {
	start := e.starts[i]
	encoded := e.buffer[start:]
	length := int(binary.LittleEndian.Uint32(encoded[4:]))
	r := record{
		kind:    recordType(encoded[8]),
		flags:   encoded[9],
		batch:   binary.LittleEndian.Uint32(encoded[12:]),
		index:   binary.LittleEndian.Uint64(encoded[16:]),
		term:    binary.LittleEndian.Uint64(encoded[24:]),
		payload: encoded[recordHeaderSize : recordHeaderSize+length],
	}
	return r, int64(start), int64(encodedRecordSize(length))
}

// entryPayloadLength is the payload length of entry's record.
func entryPayloadLength(entry raft.Entry) int { return 1 + len(entry.Data) }
