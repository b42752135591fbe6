package wal

import (
	"errors"
	"fmt"
)

// scannedRecord is a record found by scanSegment, with its position.
type scannedRecord struct {
	record
	offset int64
	size   int64
}

// segmentScan is what scanSegment found in one segment file.
type segmentScan struct {
	header segmentHeader
	// records holds the records of every whole batch, in order.
	records []scannedRecord
	// end is the offset just after the last record kept: where the next
	// write goes.
	end int64
	// dirtyEnd is the offset after which the file holds only zeros. When
	// dirtyEnd > end the segment has a torn tail in [end, dirtyEnd) that
	// must be zeroed before anything is written after end.
	dirtyEnd int64
	// nextBatch is the batch number the next record written will carry.
	nextBatch uint32
}

// scanSegment decodes the segment file content data. final says whether it
// is the last segment of the log, the only place a torn write can be.
//
// The rules (docs/storage.md explains why): the writer makes each batch
// durable with one fsync before it writes the next, and it never starts a
// segment before the previous one is durable. So a crash can damage only
// the last batch of the final segment, and only bytes after its start. When
// a record fails to decode at offset p:
//
//   - if every later byte is zero, or every intact record found later (at
//     any aligned offset) belongs to the same batch as p and nothing
//     follows that batch's last record, the damage lies within one batch at
//     the end of the log: a torn tail. Only whole batches before it are
//     kept; this can happen only in the final segment.
//   - otherwise an intact record of a later batch follows the damage; that
//     batch was written after the damaged one was durable, so the damage is
//     corruption of durable data, reported as a *CorruptionError.
//
// scanSegment never panics, whatever data holds. The returned
// CorruptionError has no file name; the caller adds it.
func scanSegment(data []byte, final bool) (segmentScan, *CorruptionError) {
	header, err := decodeSegmentHeader(data)
	if err != nil {
		return segmentScan{}, &CorruptionError{Offset: 0, Reason: err.Error()}
	}
	scan := segmentScan{header: header, end: segmentHeaderSize, nextBatch: header.firstBatch}
	// The batch the record at offset belongs to: the current one until a
	// record ends it, then the next one.
	batch := header.firstBatch
	var pending []scannedRecord // records of the batch not yet ended
	offset := int64(segmentHeaderSize)
	for offset < int64(len(data)) {
		decoded, size, err := decodeRecord(data[offset:])
		if err == nil && decoded.batch != batch {
			// An intact record whose batch number is not the expected one
			// was not written where the writer puts it: no crash does this.
			return segmentScan{}, &CorruptionError{Offset: offset, Reason: fmt.Sprintf("record belongs to batch %d, want batch %d", decoded.batch, batch)}
		}
		if err != nil {
			return scan.tail(data, offset, batch, final, err)
		}
		pending = append(pending, scannedRecord{record: decoded, offset: offset, size: int64(size)})
		offset += int64(size)
		if decoded.endsBatch() {
			scan.records = append(scan.records, pending...)
			pending = pending[:0]
			scan.end = offset
			batch++
			scan.nextBatch = batch
		}
	}
	if len(pending) > 0 {
		// The file ends inside a batch with no damaged record: the rest of
		// the batch was cut off, which only a torn final write explains.
		return scan.tail(data, offset, batch, final, errors.New("segment ends inside a batch"))
	}
	scan.dirtyEnd = scan.end
	return scan, nil
}

// tail classifies the bytes from offset (where decoding stopped with
// cause) to the end of data; batch is the batch offset belongs to.
func (scan segmentScan) tail(data []byte, offset int64, batch uint32, final bool, cause error) (segmentScan, *CorruptionError) {
	lastNonZero := int64(len(data)) - 1
	for lastNonZero >= scan.end && data[lastNonZero] == 0 {
		lastNonZero--
	}
	scan.dirtyEnd = lastNonZero + 1
	clean := scan.dirtyEnd <= scan.end // only zeros after the last whole batch
	if clean {
		return scan, nil
	}
	if !final {
		// A segment is durable in full before the next one is created, so
		// anything but zeros after its last whole batch is corruption.
		return segmentScan{}, &CorruptionError{Offset: offset, Reason: fmt.Sprintf("damaged or incomplete record in a segment that is not the last: %v", cause)}
	}
	// Look for intact records after the damage. Records are aligned, so
	// trying every aligned offset finds every intact one (and perhaps a
	// record embedded in some entry's data, which can only make this check
	// stricter, never looser).
	for candidate := alignUpOffset(offset + 1); candidate < scan.dirtyEnd; candidate += recordAlignment {
		found, size, err := decodeRecord(data[candidate:])
		if err != nil {
			continue
		}
		if found.batch != batch {
			return segmentScan{}, &CorruptionError{Offset: offset, Reason: fmt.Sprintf("%v, and an intact record of batch %d follows at offset %d, so the damage is not a torn write of the last batch %d", cause, found.batch, candidate, batch)}
		}
		if found.endsBatch() && candidate+int64(size) < scan.dirtyEnd {
			return segmentScan{}, &CorruptionError{Offset: offset, Reason: fmt.Sprintf("%v, and data follows the end of its batch at offset %d", cause, candidate+int64(size))}
		}
	}
	return scan, nil
}

func alignUpOffset(offset int64) int64 {
	return (offset + recordAlignment - 1) &^ (recordAlignment - 1)
}
