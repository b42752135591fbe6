package wal

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lockstepdb/lockstep/vfs"
)

// segmentSuffix ends the name of every segment file; temporarySuffix ends
// a segment being prepared, which recovery deletes.
const (
	segmentSuffix   = ".wal"
	temporarySuffix = ".tmp"
)

// segment is one open segment file of the log.
type segment struct {
	name   string // file name within the log directory
	header segmentHeader
	file   vfs.File
	// end is where the next record goes (only the last segment grows).
	end int64
	// maxIndex is the highest entry index the segment can hold a live
	// record for: the segment may be removed once the compaction point
	// reaches it. It starts at header.firstIndex-1.
	maxIndex uint64
	// hasRecords reports whether any record was written, i.e. whether the
	// state prologue (hard state, compaction point) is in it.
	hasRecords bool
}

// segmentName is "<sequence>-<first index>.wal", both as 16 hex digits, so
// that names sort in log order.
func segmentName(sequence, firstIndex uint64) string {
	return fmt.Sprintf("%016x-%016x%s", sequence, firstIndex, segmentSuffix)
}

// parseSegmentName is the inverse of segmentName.
func parseSegmentName(name string) (sequence, firstIndex uint64, ok bool) {
	if len(name) != 33+len(segmentSuffix) || !strings.HasSuffix(name, segmentSuffix) {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(name, "%016x-%016x"+segmentSuffix, &sequence, &firstIndex); err != nil {
		return 0, 0, false
	}
	return sequence, firstIndex, segmentName(sequence, firstIndex) == name
}

// createSegment prepares a new segment under a temporary name (header,
// then zeros up to size, then fsync), renames it into place and fsyncs the
// directory, so that a segment file either does not exist or exists in
// full with a durable header. Writing zeros instead of leaving a sparse
// file means later fdatasyncs of records need no block allocation.
func createSegment(fileSystem vfs.FS, dir string, header segmentHeader, size int64) (*segment, error) {
	name := segmentName(header.sequence, header.firstIndex)
	temporaryPath := filepath.Join(dir, name+temporarySuffix)
	file, err := fileSystem.Create(temporaryPath)
	if err != nil {
		return nil, fmt.Errorf("wal: create segment %s: %w", name, err)
	}
	if err := prepareSegment(file, header, size); err != nil {
		file.Close()
		return nil, fmt.Errorf("wal: prepare segment %s: %w", name, err)
	}
	if err := fileSystem.Rename(temporaryPath, filepath.Join(dir, name)); err != nil {
		file.Close()
		return nil, fmt.Errorf("wal: rename segment %s: %w", name, err)
	}
	if err := fileSystem.SyncDir(dir); err != nil {
		file.Close()
		return nil, fmt.Errorf("wal: sync directory after creating segment %s: %w", name, err)
	}
	return &segment{name: name, header: header, file: file, end: segmentHeaderSize, maxIndex: header.firstIndex - 1}, nil
}

// preallocationChunk is the size of the zero writes that fill a new
// segment.
const preallocationChunk = 1 << 20

func prepareSegment(file vfs.File, header segmentHeader, size int64) error {
	if _, err := file.WriteAt(header.encode(), 0); err != nil {
		return err
	}
	zeros := make([]byte, min(preallocationChunk, max(size-segmentHeaderSize, 0)))
	for offset := int64(segmentHeaderSize); offset < size; offset += int64(len(zeros)) {
		if _, err := file.WriteAt(zeros[:min(int64(len(zeros)), size-offset)], offset); err != nil {
			return err
		}
	}
	return file.Sync()
}
