package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/lockstepdb/lockstep/vfs"
	"github.com/lockstepdb/lockstep/wal"
)

// Bounds of the delay between tries of a Save that found the log's disk
// full: short at first, so that a brief shortage costs little latency,
// and at most a second, so that a long one costs no CPU to speak of (each
// try creates the next segment file and writes zeros until the disk
// refuses).
const (
	firstDiskFullRetry = 10 * time.Millisecond
	lastDiskFullRetry  = time.Second
)

// saveWaitingForSpace saves batch and, while the log's disk has no space
// for its next segment (wal.ErrNoSpace: nothing of the batch was written,
// and the log is as before), tries the same batch again after a delay that
// doubles from 10 ms to a second. It returns the outcome of the last try:
// nil, or an error that is fatal to the node (wal.ErrLogFailed); or
// stopped, with the batch abandoned, when the writer is told to stop while
// it waits. Writer goroutine only.
//
// Meanwhile the durable sequence does not move, so the core acknowledges
// nothing of the batch or of later writes (which queue behind it): as a
// follower it does not answer the leader's appends (the leader sends them
// again), as a leader it does not count itself towards a quorum. The loop
// goes on stepping messages and ticks. The pause is logged once when it
// starts and once when it ends, never per try.
func (w *logWriter) saveWaitingForSpace(batch []logWrite) (stopped bool, err error) {
	key := batch[len(batch)-1].sequence
	for {
		err := w.save(batch)
		if !errors.Is(err, wal.ErrNoSpace) {
			w.retries.Succeeded(key)
			w.resumeWrites(err)
			return false, err
		}
		delay := w.retries.Failed(key)
		w.pauseWrites(err)
		timer := time.NewTimer(delay)
		select {
		case <-w.quit:
			timer.Stop()
			return true, nil
		case <-timer.C:
		}
	}
}

// pauseWrites records that the log's disk is full, logging it the first
// time, with the log's directory and the space left if the file system
// says.
func (w *logWriter) pauseWrites(cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.diskFull != nil {
		w.diskFull = cause
		return
	}
	w.diskFull, w.fullSince = cause, time.Now()
	attributes := []any{"directory", w.directory, "error", cause}
	if free, err := vfs.FreeSpace(w.fileSystem, w.directory); err == nil {
		attributes = append(attributes, "free_bytes", free)
	}
	w.log.Error("raft log disk full: writes paused; the node keeps running and retries until space returns (see docs/operations.md, When the disk fills)", attributes...)
}

// resumeWrites ends a pause, if any, after a Save that did not find the
// disk full: it logs that writes resumed if the Save succeeded (a failed
// one stops the node, which says so itself).
func (w *logWriter) resumeWrites(outcome error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.diskFull == nil {
		return
	}
	if outcome == nil {
		w.log.Info("raft log disk has space again: writes resumed", "directory", w.directory, "paused_for", time.Since(w.fullSince).Round(time.Millisecond))
	}
	w.diskFull = nil
}

// fullError returns nil while Saves succeed, else an error wrapping
// wal.ErrNoSpace that says since when. Safe from any goroutine.
func (w *logWriter) fullError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.diskFull == nil {
		return nil
	}
	return fmt.Errorf("raft log writes paused since %s: %w", w.fullSince.UTC().Format(time.RFC3339), w.diskFull)
}

// LogDiskFull returns nil while the node's Raft log takes writes, and an
// error wrapping ENOSPC (and wal.ErrNoSpace, unless it was a snapshot's
// file that found no space) while its writes are paused because the disk
// has no space for the log's next segment, or for a snapshot from the
// leader that the node is installing (untilSpace): the node
// keeps running, acknowledges nothing new, and resumes by itself when
// space returns. Only with Config.AsyncPersistence: without it a full
// disk stops the node, as any failed write does (see Err). Safe for
// concurrent use, from any goroutine, also while the node is stopping.
func (n *Node) LogDiskFull() error {
	if n.writer == nil {
		return nil
	}
	return n.writer.fullError()
}
