package wal

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"

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
	// allocated is the file's durable size: zeros past end up to it (the
	// spare's preparation, or what recovery read and fsynced; see
	// extendForBatch).
	allocated int64
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

// spareName is the temporary name of the file being prepared to become
// segment number sequence: "<sequence>.wal.tmp" (16 hex digits). Its first
// index, part of the segment's name, is known only when it is put to use.
func spareName(sequence uint64) string {
	return fmt.Sprintf("%016x%s%s", sequence, segmentSuffix, temporarySuffix)
}

// spareSegment is a file prepared to become the next segment: zeros up to
// the segment size, durable, under a temporary name that recovery deletes.
type spareSegment struct {
	path string
	file vfs.File
	size int64 // its zeros' end
}

// prepareSpare creates the file path and fills it with zeros up to size,
// then fsyncs it. Writing zeros rather than leaving a sparse file (or
// fallocating, which leaves unwritten extents on ext4) means that later
// fdatasyncs of records need neither block allocation nor an extent
// conversion, so they commit no file-system metadata.
//
// On failure the partial file is removed, giving back the space it took
// (a failed removal is harmless: recovery deletes temporary files, and the
// next preparation of the same segment truncates it). A failure for lack
// of space wraps ErrNoSpace: no segment of the log was touched, so the
// write that needed the segment may be retried.
func prepareSpare(fileSystem vfs.FS, path string, size int64) (*spareSegment, error) {
	file, err := fileSystem.Create(path)
	if err != nil {
		return nil, preparationError("create", path, err)
	}
	if err := fillZeros(file, size); err != nil {
		file.Close()
		fileSystem.Remove(path)
		return nil, preparationError("preallocate", path, err)
	}
	return &spareSegment{path: path, file: file, size: size}, nil
}

// preparationError describes a failed step of prepareSpare, wrapping
// ErrNoSpace when the disk is full.
func preparationError(step, path string, err error) error {
	if vfs.IsNoSpace(err) {
		return fmt.Errorf("%w: %s segment file %s: %w", ErrNoSpace, step, path, err)
	}
	return fmt.Errorf("wal: %s segment file %s: %w", step, path, err)
}

// preallocationChunk is the size of the zero writes that fill a new
// segment.
const preallocationChunk = 1 << 20

func fillZeros(file vfs.File, size int64) error {
	zeros := make([]byte, min(preallocationChunk, max(size, 0)))
	for offset := int64(0); offset < size; offset += int64(len(zeros)) {
		if _, err := file.WriteAt(zeros[:min(int64(len(zeros)), size-offset)], offset); err != nil {
			return err
		}
	}
	return file.Sync()
}

// activate turns the spare into the segment described by header, of the
// current format version: it writes the header, fsyncs, renames the file
// into place and fsyncs the directory, so that a segment file either does
// not exist or exists in full with a durable header (and durable zeros
// after it). On error the spare's file is closed.
func (s *spareSegment) activate(fileSystem vfs.FS, dir string, header segmentHeader) (*segment, error) {
	header.version = formatVersion
	name := segmentName(header.sequence, header.firstIndex)
	fail := func(step string, err error) (*segment, error) {
		s.file.Close()
		return nil, fmt.Errorf("wal: %s segment %s: %w", step, name, err)
	}
	if _, err := s.file.WriteAt(header.encode(), 0); err != nil {
		return fail("write header of", err)
	}
	if err := s.file.Sync(); err != nil {
		return fail("fsync header of", err)
	}
	if err := fileSystem.Rename(s.path, filepath.Join(dir, name)); err != nil {
		return fail("rename", err)
	}
	if err := fileSystem.SyncDir(dir); err != nil {
		return fail("sync directory after creating", err)
	}
	return &segment{name: name, header: header, file: s.file, end: segmentHeaderSize, maxIndex: header.firstIndex - 1, allocated: s.size}, nil
}

// discard closes the spare and removes its file. The removal need not be
// durable: recovery deletes temporary files.
func (s *spareSegment) discard(fileSystem vfs.FS) {
	s.file.Close()
	fileSystem.Remove(s.path)
}

// createSegment prepares and activates a segment at once.
func createSegment(fileSystem vfs.FS, dir string, header segmentHeader, size int64) (*segment, error) {
	spare, err := prepareSpare(fileSystem, filepath.Join(dir, spareName(header.sequence)), size)
	if err != nil {
		return nil, err
	}
	return spare.activate(fileSystem, dir, header)
}

// spareResult is the outcome of a background preparation.
type spareResult struct {
	spare *spareSegment
	err   error
}

// prepareSpareIfDue starts preparing the segment after current in the
// background once current is half full, unless that is under way. The
// preparation writes SegmentSize bytes of zeros and fsyncs them: done at
// rollover, it would stall the batch that rolls over for as long. Only the
// flusher calls it.
func (l *Log) prepareSpareIfDue(current *segment) {
	if l.spare != nil || current.end < l.options.SegmentSize/2 {
		return
	}
	result := make(chan spareResult, 1)
	l.spare = result
	fileSystem, path, size := l.fileSystem, filepath.Join(l.dir, spareName(current.header.sequence+1)), l.options.SegmentSize
	previous := ""
	if n := len(l.state.segments); n > 1 {
		previous = filepath.Join(l.dir, l.state.segments[n-2].name)
	}
	prepare := func() {
		if previous != "" {
			// The previous segment is complete and durable, and the entry
			// cache holds what the core reads back: let the kernel reuse
			// its pages for the new segment rather than take fresh memory
			// for each one (an error is harmless: it is advice).
			vfs.DropCache(fileSystem, previous)
		}
		spare, err := prepareSpare(fileSystem, path, size)
		result <- spareResult{spare: spare, err: err}
	}
	if l.options.inlinePreparation {
		prepare()
		return
	}
	go prepare()
}

// takeSpare returns the prepared file for segment sequence: the one
// prepared in the background, once it is ready, or one prepared now. A
// background preparation that failed is not the log's failure (it touched
// no segment, and removed its file): it is tried again here, when the
// segment is needed, and only that outcome counts. So a disk that was full
// while the background preparation ran, and has space again at rollover,
// costs nothing; one still full gives ErrNoSpace, and the next write tries
// again.
//
// While the disk is full, each try would write zeros until the disk
// refuses, then remove them: up to a segment's size of writes per try.
// So after a preparation failed for lack of space, a file system that
// reports its free space (vfs.FreeSpace) is asked first, and the segment
// is prepared only once it has room for one.
func (l *Log) takeSpare(sequence uint64) (*spareSegment, error) {
	if l.spare != nil {
		result := <-l.spare
		l.spare = nil
		if result.err == nil {
			return result.spare, nil
		}
	}
	size := l.options.SegmentSize
	if l.short {
		if free, err := vfs.FreeSpace(l.fileSystem, l.dir); err == nil && free < uint64(size) {
			return nil, fmt.Errorf("%w: %d bytes free in %s, a segment needs %d: %w", ErrNoSpace, free, l.dir, size, syscall.ENOSPC)
		}
	}
	spare, err := prepareSpare(l.fileSystem, filepath.Join(l.dir, spareName(sequence)), size)
	l.short = errors.Is(err, ErrNoSpace)
	return spare, err
}

// discardSpare waits for a background preparation to end and removes its
// file.
func (l *Log) discardSpare() {
	if l.spare == nil {
		return
	}
	result := <-l.spare
	l.spare = nil
	if result.spare != nil {
		result.spare.discard(l.fileSystem)
	}
}
