package wal

import (
	"fmt"
	"path/filepath"
)

// failStopError marks an error after which the log must refuse writes.
type failStopError struct{ cause error }

func (e *failStopError) Error() string { return e.cause.Error() }

// removeObsoleteSegments removes, oldest first, the segments that hold no
// entry after the compaction point (never the last one), then fsyncs the
// directory. Oldest first matters: a crash part way leaves a contiguous
// run of segments that still recovers. Only the flusher calls it.
//
// A failed removal is returned as is (the files stay, harmlessly, until
// the next restart recovers and compacts them); a failed directory fsync is
// a *failStopError.
func (l *Log) removeObsoleteSegments() error {
	l.mu.Lock()
	var obsolete []*segment
	for len(l.state.segments) > 1 && l.state.segments[0].maxIndex <= l.state.point.Index {
		obsolete = append(obsolete, l.state.segments[0])
		l.state.segments = l.state.segments[1:]
	}
	l.mu.Unlock()
	if len(obsolete) == 0 {
		return nil
	}
	var removeErr error
	for _, old := range obsolete {
		old.file.Close()
		if err := l.fileSystem.Remove(filepath.Join(l.dir, old.name)); err != nil {
			removeErr = fmt.Errorf("wal: remove compacted segment %s: %w", old.name, err)
			break
		}
	}
	if err := l.fileSystem.SyncDir(l.dir); err != nil {
		return &failStopError{cause: fmt.Errorf("wal: sync directory %s after removing segments: %w", l.dir, err)}
	}
	return removeErr
}

// closeFiles waits for a segment being prepared in the background and
// removes it, closes every segment file and makes reads fail with
// ErrClosed.
func (l *Log) closeFiles() error {
	l.discardSpare()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.isOpen {
		return nil
	}
	l.isOpen = false
	var firstErr error
	for _, segment := range l.state.segments {
		if err := segment.file.Close(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("wal: close segment %s: %w", segment.name, err)
		}
	}
	l.cache.reset()
	return firstErr
}
