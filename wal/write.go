package wal

import (
	"errors"
	"fmt"
	"time"

	"github.com/lockstepdb/lockstep/internal/mutation"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// Save makes hardState (unless it is empty) and entries durable with one
// fsync, shared with any writes queued at the same time by other
// goroutines. The one exception: a Save of only a hard state that changes
// nothing but the commit index is not written at once (see needsWrite),
// so a crash may recover an older commit index; it becomes durable with
// the next hard state written. Entries must be contiguous. An entry at or below LastIndex
// replaces that entry and every entry after it (a follower's conflicting
// suffix, Raft §5.3); entries at or below the compaction point are
// ignored. Entries are written before the hard state in the same batch,
// and recovery keeps only whole batches, so a Save is atomic across a
// crash: all of it or none of it is recovered.
//
// When Save returns nil, everything it was given is visible to reads and,
// but for that exception, durable. When it returns an error, nothing it
// was given is visible, and:
//   - if the error wraps ErrNoSpace (the disk had no space for the next
//     segment), nothing of this Save was written, on disk or in memory,
//     and the log stays usable: the same Save may be retried (a caller
//     whose later writes build on it retries it before them);
//   - if it wraps ErrLogFailed (a write or fsync failed), a crash may
//     still have left part of it on disk, so the caller must not act as
//     if it was not written (for example, never reply to a vote request
//     as if the vote was not cast): it must stop and reopen;
//   - any other error is an invalid request, refused before anything
//     was written.
//
// The Log keeps references to the entries' Data: the caller must not
// modify it afterwards. Safe for concurrent use.
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
// use; durable on return. An error wrapping ErrNoSpace means nothing was
// written and the log stays usable, as for Save.
func (l *Log) Compact(point raft.SnapshotMetadata) error {
	return l.submit(&request{kind: requestCompact, point: point})
}

// InstallSnapshot records durably that the snapshot described by point
// replaced the whole log (a snapshot received from the leader): every
// entry is discarded and the log restarts after point.Index. It returns
// raft.ErrSnapshotOutOfDate if the log is already compacted to point.Index
// or beyond. Safe for concurrent use; durable on return. An error wrapping
// ErrNoSpace means nothing was written and the log stays usable, as for
// Save.
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
	} else if err := l.writeBatch(batch); errors.Is(err, ErrNoSpace) && !mutation.On(mutation.WALFullDiskFatal) {
		// No record was written (see ErrNoSpace): the log does not fail,
		// and each writer may try again.
		for _, req := range batch {
			if !req.completed {
				req.complete(err)
			}
		}
	} else if err != nil {
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
	accepted := l.accepted[:0]
	defer func() {
		clear(accepted)
		l.accepted = accepted[:0]
	}()
	size, records := 0, 0
	for _, req := range batch {
		planned, err := view.plan(req)
		if err != nil {
			req.complete(err)
			continue
		}
		accepted = append(accepted, req)
		size += planned
		records += len(req.entries) + len(req.records)
	}
	if records == 0 || !needsWrite(l.state.hardState, accepted) {
		l.rememberCommit(accepted)
		for _, req := range accepted {
			req.complete(nil)
		}
		return nil
	}
	current, err := l.segmentFor(int64(size))
	if err != nil {
		return err
	}
	encoder := &l.encoder
	if !current.hasRecords {
		// Each segment starts with the state so far, so that removing
		// older segments never removes the latest hard state or
		// compaction point.
		hardState, point := hardStateRecord(l.state.hardState), pointRecord(recordCompaction, l.state.point)
		encoder.reset(l.nextBatch, size+encodedRecordSize(len(hardState.payload))+encodedRecordSize(len(point.payload)))
		encoder.add(hardState)
		encoder.add(point)
	} else {
		encoder.reset(l.nextBatch, size)
	}
	for _, req := range accepted {
		for _, entry := range req.entries {
			if entry.Type == raft.EntryMembership && mutation.On(mutation.WALDropMembership) {
				// Deliberate bug, -tags mutation only: the configuration
				// change is never written, yet the Save succeeds.
				continue
			}
			encoder.addEntry(entry)
		}
		for _, r := range req.records {
			encoder.add(r)
		}
	}
	buffer := encoder.finish()
	if err := extendForBatch(current, int64(len(buffer))); err != nil {
		return err
	}
	start := time.Now()
	if _, err := current.file.WriteAt(buffer, current.end); err != nil {
		return fmt.Errorf("wal: write segment %s: %w", current.name, err)
	}
	if mutation.On(mutation.WALSkipFsync) {
		// Deliberate bug, -tags mutation only: acknowledged, not durable.
	} else if err := current.file.Sync(); err != nil {
		return fmt.Errorf("wal: fsync segment %s: %w", current.name, err)
	}
	if l.options.ObserveSync != nil {
		l.options.ObserveSync(time.Since(start))
	}
	l.nextBatch++
	if err := l.publish(current, accepted); err != nil {
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
	// Prepare the next segment in the background once this one is half
	// full, before the requests complete (so that a caller that closes the
	// log right after finds the preparation started, and Close waits for
	// it).
	l.prepareSpareIfDue(current)
	for _, req := range accepted {
		if req.kind == requestSave {
			req.complete(nil)
		} else {
			req.complete(removeErr)
		}
	}
	return nil
}

// needsWrite reports whether a batch must be written (and synced): all but
// a batch of hard states that move only the commit index. The commit index
// is volatile in Raft: a node that restarts with an older one learns the
// newer one again from the leader, and the core never lets it fall below
// what a snapshot covers. So such a hard state is only remembered, and
// reaches the disk with the next hard state or segment written; that
// spares every node one fsync per commit (etcd's WAL skips the fsync too).
// Not writing it at all, rather than writing it unsynced, keeps recovery's
// rule that only the last batch can be torn. The term and vote must be
// durable before any message that depends on them leaves, and entries
// before they are acknowledged, so those are always written and synced.
func needsWrite(current raft.HardState, batch []*request) bool {
	for _, req := range batch {
		if req.kind != requestSave || len(req.entries) > 0 {
			return true
		}
		if !req.hardState.IsEmpty() && (req.hardState.Term != current.Term || req.hardState.Vote != current.Vote) {
			return true
		}
	}
	return false
}

// rememberCommit makes the commit-only hard states of a batch that is not
// written visible to HardState and to the next segment's header.
func (l *Log) rememberCommit(batch []*request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, req := range batch {
		if req.kind == requestSave && !req.hardState.IsEmpty() {
			l.state.hardState = req.hardState
		}
	}
}

// segmentFor returns the segment a batch of size bytes goes to, rolling
// over to a new one if the current one has records and the batch would
// not fit.
func (l *Log) segmentFor(size int64) (*segment, error) {
	current := l.state.segments[len(l.state.segments)-1]
	// A segment of an older format (the last one of a log this build
	// opened) is left as it is: a segment's records are all of its format.
	if current.header.version == formatVersion && (!current.hasRecords || current.end+size <= l.options.SegmentSize) {
		return current, nil
	}
	header := segmentHeader{sequence: current.header.sequence + 1, firstIndex: l.state.lastIndex() + 1, firstBatch: l.nextBatch}
	spare, err := l.takeSpare(header.sequence)
	if err != nil {
		return nil, err
	}
	next, err := spare.activate(l.fileSystem, l.dir, header)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.state.segments = append(l.state.segments, next)
	l.mu.Unlock()
	return next, nil
}

// publish applies the durable records just written (still in the encoder)
// to the in-memory state and cache.
func (l *Log) publish(current *segment, accepted []*request) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	written := int64(0)
	for i := range l.encoder.records() {
		r, offset, size := l.encoder.record(i)
		if err := l.state.apply(r, current.end+offset, size); err != nil {
			// plan accepted what apply refuses: a bug, but the records are
			// on disk, so the only safe course is to stop writing.
			return fmt.Errorf("wal: internal error: durable record does not apply: %w", err)
		}
		written = offset + size
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

// extendForBatch zero-fills and fsyncs the segment's file up to where a
// batch of size bytes will end, if that is past what the file holds: a
// batch larger than a segment goes whole into a fresh one (segmentFor),
// beyond its preallocated zeros. The records are then written, as always,
// over durable zeros, and a full disk is found before any record is
// written: ErrNoSpace, nothing written, the log usable and the Save
// retryable, rather than an ENOSPC from the record write, which fails the
// log. After a failed extension the next one writes and fsyncs the zeros
// again from the same place.
func extendForBatch(current *segment, size int64) error {
	end := current.end + size
	if end <= current.allocated {
		return nil
	}
	zeros := make([]byte, min(preallocationChunk, end-current.allocated))
	var err error
	for offset := current.allocated; offset < end && err == nil; offset += int64(len(zeros)) {
		_, err = current.file.WriteAt(zeros[:min(int64(len(zeros)), end-offset)], offset)
	}
	if err == nil {
		err = current.file.Sync()
	}
	if vfs.IsNoSpace(err) {
		return fmt.Errorf("%w: extend segment %s for a batch larger than a segment: %w", ErrNoSpace, current.name, err)
	}
	if err != nil {
		return fmt.Errorf("wal: extend segment %s: %w", current.name, err)
	}
	current.allocated = end
	return nil
}
