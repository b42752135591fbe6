package wal

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/lockstepdb/lockstep/vfs"
)

// Open opens the log in dir, creating dir and an empty log if there is
// none, and recovers it: it scans every segment, truncates a torn tail left
// by a crash (zeroing it durably before anything new is written after it),
// and rebuilds the in-memory index. If the log cannot be trusted it returns
// a *CorruptionError (match it with errors.As) and the node must not start
// with it; see docs/storage.md.
//
// Open is called once, before the log is shared; it is not safe to open
// the same directory twice at a time.
func Open(fileSystem vfs.FS, dir string, options Options) (*Log, error) {
	options = options.withDefaults()
	if err := fileSystem.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("wal: create directory %s: %w", dir, err)
	}
	names, err := listSegments(fileSystem, dir)
	if err != nil {
		return nil, err
	}
	log := &Log{fileSystem: fileSystem, dir: dir, options: options, isOpen: true}
	log.cache.limit = options.CacheBytes
	if len(names) == 0 {
		first, err := createSegment(fileSystem, dir, segmentHeader{sequence: 1, firstIndex: 1, firstBatch: 1}, options.SegmentSize)
		if err != nil {
			return nil, err
		}
		log.state.segments = []*segment{first}
		log.nextBatch = 1
		return log, nil
	}
	if err := log.recover(names); err != nil {
		for _, segment := range log.state.segments {
			segment.file.Close()
		}
		return nil, err
	}
	if err := log.syncRecovered(); err != nil {
		log.closeFiles()
		return nil, err
	}
	if err := log.loadCache(); err != nil {
		log.closeFiles()
		return nil, err
	}
	return log, nil
}

// listSegments returns the segment names in dir in log order, after
// deleting the temporary files of a segment creation that a crash
// interrupted (such a segment never held a record).
func listSegments(fileSystem vfs.FS, dir string) ([]string, error) {
	entries, err := fileSystem.List(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list directory %s: %w", dir, err)
	}
	var names []string
	removed := false
	for _, name := range entries {
		if strings.HasSuffix(name, segmentSuffix+temporarySuffix) {
			if err := fileSystem.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("wal: remove unfinished segment %s: %w", name, err)
			}
			removed = true
			continue
		}
		if _, _, ok := parseSegmentName(name); ok {
			names = append(names, name)
		}
	}
	if removed {
		if err := fileSystem.SyncDir(dir); err != nil {
			return nil, fmt.Errorf("wal: sync directory %s: %w", dir, err)
		}
	}
	// Names sort by sequence number because it is their fixed-width prefix.
	return names, nil
}

// recover scans and replays the segments named, oldest first.
func (l *Log) recover(names []string) error {
	for i, name := range names {
		path := filepath.Join(l.dir, name)
		sequence, firstIndex, _ := parseSegmentName(name)
		if i > 0 {
			previous, _, _ := parseSegmentName(names[i-1])
			if sequence != previous+1 {
				return &CorruptionError{File: path, Offset: 0, Reason: fmt.Sprintf("segment %d is missing before it", previous+1)}
			}
		}
		final := i == len(names)-1
		file, data, err := l.readSegment(path, final)
		if err != nil {
			return err
		}
		scan, corruption := scanSegment(data, final)
		if corruption != nil {
			file.Close()
			corruption.File = path
			return corruption
		}
		header := scan.header
		if header.sequence != sequence || header.firstIndex != firstIndex {
			file.Close()
			return &CorruptionError{File: path, Offset: 0, Reason: fmt.Sprintf("header says segment %d starting at index %d, the name says otherwise", header.sequence, header.firstIndex)}
		}
		current := &segment{name: name, header: header, file: file, end: scan.end, maxIndex: header.firstIndex - 1, hasRecords: len(scan.records) > 0, allocated: int64(len(data))}
		if i == 0 {
			l.state.base = header.firstIndex - 1
		} else if last := l.state.lastIndex(); header.firstIndex != last+1 {
			file.Close()
			return &CorruptionError{File: path, Offset: 0, Reason: fmt.Sprintf("segment starts at index %d but the log before it ends at %d", header.firstIndex, last)}
		} else if header.firstBatch != l.nextBatch {
			file.Close()
			return &CorruptionError{File: path, Offset: 0, Reason: fmt.Sprintf("segment starts with batch %d but the log before it ends before batch %d", header.firstBatch, l.nextBatch)}
		}
		l.state.segments = append(l.state.segments, current)
		for _, scanned := range scan.records {
			if err := l.state.apply(scanned.record, scanned.offset, scanned.size); err != nil {
				return &CorruptionError{File: path, Offset: scanned.offset, Reason: err.Error()}
			}
		}
		l.nextBatch = scan.nextBatch
		if final && scan.dirtyEnd > scan.end {
			if err := zeroTornTail(file, scan.end, scan.dirtyEnd); err != nil {
				return fmt.Errorf("wal: zero torn tail of segment %s: %w", name, err)
			}
		}
	}
	if l.state.base > l.state.point.Index {
		return &CorruptionError{File: filepath.Join(l.dir, names[0]), Offset: 0, Reason: fmt.Sprintf("entries %d to %d are missing: a segment before this one was lost", l.state.point.Index+1, l.state.base)}
	}
	return nil
}

// syncRecovered makes what recovery read durable before anything is built
// on it. A process that stopped between a write and its fsync (killed, or
// its fsync failed) leaves that write readable but not durable, and the
// next process, started without a power failure in between, reads it back
// like the rest: without this it would acknowledge those entries, or roll
// over to a new segment (fsynced) after them, and a later power failure
// would lose them, or leave a hole that recovery refuses as corruption.
// Every batch is fsynced before the log rolls over, so only the final
// segment, and the directory (a segment renamed into place whose
// directory fsync failed), can hold such writes.
func (l *Log) syncRecovered() error {
	final := l.state.segments[len(l.state.segments)-1]
	if err := final.file.Sync(); err != nil {
		return fmt.Errorf("wal: fsync recovered segment %s: %w", final.name, err)
	}
	if err := l.fileSystem.SyncDir(l.dir); err != nil {
		return fmt.Errorf("wal: sync directory %s: %w", l.dir, err)
	}
	return nil
}

// readSegment opens a segment (for writing too, if it is the final one)
// and reads all of it.
func (l *Log) readSegment(path string, final bool) (vfs.File, []byte, error) {
	open := l.fileSystem.Open
	if final {
		open = l.fileSystem.OpenReadWrite
	}
	file, err := open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: open segment %s: %w", path, err)
	}
	size, err := file.Size()
	if err != nil {
		file.Close()
		return nil, nil, fmt.Errorf("wal: size of segment %s: %w", path, err)
	}
	data := make([]byte, size)
	if _, err := file.ReadAt(data, 0); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		file.Close()
		return nil, nil, fmt.Errorf("wal: read segment %s: %w", path, err)
	}
	return file, data, nil
}

// zeroTornTail overwrites the remains of a torn write with zeros and
// makes that durable, so that no stale record can ever be mistaken for a
// continuation of records written after end.
func zeroTornTail(file vfs.File, end, dirtyEnd int64) error {
	if _, err := file.WriteAt(make([]byte, dirtyEnd-end), end); err != nil {
		return err
	}
	return file.Sync()
}

// loadCache fills the entry cache with the newest entries that fit it.
func (l *Log) loadCache() error {
	last := l.state.lastIndex()
	first := last + 1
	budget := l.options.CacheBytes
	for first > l.state.point.Index+1 {
		position := l.state.position(first - 1)
		cost := position.entrySize
		if cost > budget {
			break
		}
		budget -= cost
		first--
	}
	if first > last {
		return nil
	}
	entries, err := l.readEntries(first, last+1)
	if err != nil {
		return err
	}
	l.cache.append(entries)
	return nil
}
