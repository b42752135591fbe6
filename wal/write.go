package wal

import (
	"errors"
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
)

// Save makes hardState (unless it is empty) and entries durable with one
// fsync, shared with any writes queued at the same time by other
// goroutines. Entries must be contiguous. An entry at or below LastIndex
// replaces that entry and every entry after it (a follower's conflicting
// suffix, Raft §5.3); entries at or below the compaction point are
// ignored. Entries are written before the hard state in the same batch,
// and recovery keeps only whole batches, so a Save is atomic across a
// crash: all of it or none of it is recovered.
//
// When Save returns nil, everything it was given is durable and visible to
// reads. When it returns an error, nothing it was given is visible; a
// crash may still have left part of it on disk, so after a failure the
// caller must not act as if it was not written (for example, never reply
// to a vote request as if the vote was not cast): it must stop and
// reopen. The Log keeps references to the entries' Data: the caller must
// not modify it afterwards. Safe for concurrent use.
func (l *Log) Save(hardState raft.HardState, entries []raft.Entry) error {
	if hardState.IsEmpty() && len(entries) == 0 {
		return nil
	}
	return l.submit(&request{kind: requestSave, hardState: hardState, entries: entries})
}

// Compact records durably that a snapshot described by point covers every
// entry up to point.Index (whose term must be point.Term), discards those
// entries and removes the segments that hold only such entries. The entries
// after point.Index are kept. It returns raft.ErrSnapshotOutOfDate if the
// log is already compacted to point.Index or beyond. Safe for concurrent
// use; durable on return.
func (l *Log) Compact(point raft.SnapshotMetadata) error {
	return l.submit(&request{kind: requestCompact, point: point})
}

// InstallSnapshot records durably that the snapshot described by point
// replaced the whole log (a snapshot received from the leader): every
// entry is discarded and the log restarts after point.Index. It returns
// raft.ErrSnapshotOutOfDate if the log is already compacted to point.Index
// or beyond. Safe for concurrent use; durable on return.
func (l *Log) InstallSnapshot(point raft.SnapshotMetadata) error {
	return l.submit(&request{kind: requestInstallSnapshot, point: point})
}

// Close waits for the writes queued before it, then closes the segment
// files. Writes after Close return ErrClosed. It makes nothing durable that
// was not already.
func (l *Log) Close() error {
	return l.submit(&request{kind: requestClose})
}

// failedError wraps the cause of a write failure for every caller.
func failedError(cause error) error { return fmt.Errorf("%w: %w", ErrLogFailed, cause) }

// commit writes the records of a batch of requests with one write and one
// fsync, then publishes them. Only the flusher calls it, so it may read
// l.state without the lock (no one else writes it).
func (l *Log) commit(batch []*request) {
	l.queueMu.Lock()
	failed := l.failed
	l.queueMu.Unlock()
	var closing *request
	if last := batch[len(batch)-1]; last.kind == requestClose {
		closing, batch = last, batch[:len(batch)-1]
	}
	if failed != nil {
		for _, req := range batch {
			req.complete(failedError(failed))
		}
	} else if err := l.writeBatch(batch); err != nil {
		l.queueMu.Lock()
		if l.failed == nil {
			l.failed = err
		}
		l.queueMu.Unlock()
		for _, req := range batch {
			if !req.completed {
				req.complete(failedError(err))
			}
		}
	}
	if closing != nil {
		closing.complete(l.closeFiles())
	}
}

// writeBatch plans, writes, syncs and publishes the batch. Requests that
// are invalid are completed with their error and leave the log usable; an
// error returned is an I/O failure that fails the whole log.
func (l *Log) writeBatch(batch []*request) error {
	view := pendingView{point: l.state.point.Index, last: l.state.lastIndex()}
	var records []record
	var accepted []*request
	for _, req := range batch {
		planned, err := view.plan(req)
		if err != nil {
			req.complete(err)
			continue
		}
		records = append(records, planned...)
		accepted = append(accepted, req)
	}
	if len(records) == 0 {
		for _, req := range accepted {
			req.complete(nil)
		}
		return nil
	}
	current, err := l.segmentFor(records)
	if err != nil {
		return err
	}
	if !current.hasRecords {
		// Each segment starts with the state so far, so that removing
		// older segments never removes the latest hard state or
		// compaction point.
		prologue := []record{hardStateRecord(l.state.hardState), pointRecord(recordCompaction, l.state.point)}
		records = append(prologue, records...)
	}
	buffer, offsets := l.encodeBatch(records, current.end)
	if _, err := current.file.WriteAt(buffer, current.end); err != nil {
		return fmt.Errorf("wal: write segment %s: %w", current.name, err)
	}
	if err := current.file.Sync(); err != nil {
		return fmt.Errorf("wal: fsync segment %s: %w", current.name, err)
	}
	l.nextBatch++
	if err := l.publish(current, records, offsets, int64(len(buffer)), accepted); err != nil {
		return err
	}
	removeErr := error(nil)
	for _, req := range accepted {
		if req.kind == requestCompact || req.kind == requestInstallSnapshot {
			removeErr = l.removeObsoleteSegments()
			break
		}
	}
	var failStop *failStopError
	if errors.As(removeErr, &failStop) {
		return failStop.cause
	}
	for _, req := range accepted {
		if req.kind == requestSave {
			req.complete(nil)
		} else {
			req.complete(removeErr)
		}
	}
	return nil
}

// segmentFor returns the segment the records go to, rolling over to a new
// one if the current one has records and they would not fit.
func (l *Log) segmentFor(records []record) (*segment, error) {
	current := l.state.segments[len(l.state.segments)-1]
	size := int64(0)
	for _, r := range records {
		size += int64(encodedRecordSize(len(r.payload)))
	}
	if !current.hasRecords || current.end+size <= l.options.SegmentSize {
		return current, nil
	}
	header := segmentHeader{sequence: current.header.sequence + 1, firstIndex: l.state.lastIndex() + 1, firstBatch: l.nextBatch}
	next, err := createSegment(l.fileSystem, l.dir, header, l.options.SegmentSize)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.state.segments = append(l.state.segments, next)
	l.mu.Unlock()
	return next, nil
}

// encodeBatch encodes records as one batch starting at offset start and
// returns the bytes and each record's offset.
func (l *Log) encodeBatch(records []record, start int64) ([]byte, []int64) {
	size := 0
	for _, r := range records {
		size += encodedRecordSize(len(r.payload))
	}
	buffer := make([]byte, 0, size)
	offsets := make([]int64, len(records))
	for i := range records {
		records[i].batch = l.nextBatch
		if i == len(records)-1 {
			records[i].flags = recordFlagBatchEnd
		}
		offsets[i] = start + int64(len(buffer))
		buffer = appendRecord(buffer, records[i])
	}
	return buffer, offsets
}

// publish applies durable records to the in-memory state and cache.
func (l *Log) publish(current *segment, records []record, offsets []int64, written int64, accepted []*request) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, r := range records {
		size := int64(encodedRecordSize(len(r.payload)))
		if err := l.state.apply(r, offsets[i], size); err != nil {
			// plan accepted what apply refuses: a bug, but the records are
			// on disk, so the only safe course is to stop writing.
			return fmt.Errorf("wal: internal error: durable record does not apply: %w", err)
		}
	}
	current.end += written
	current.hasRecords = true
	for _, req := range accepted {
		switch req.kind {
		case requestSave:
			l.cache.append(req.entries)
		case requestCompact:
			l.cache.dropThrough(req.point.Index)
		case requestInstallSnapshot:
			l.cache.reset()
		}
	}
	return nil
}
