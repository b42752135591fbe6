package wal

import (
	"errors"
	"fmt"
)

// CorruptionError reports a log that cannot be trusted: a record that fails
// its checksum where a torn write cannot explain it, a gap in the indexes,
// a missing segment or a malformed segment header. The log refuses to open;
// see docs/storage.md for what an operator does then.
type CorruptionError struct {
	File   string // path of the segment file
	Offset int64  // byte offset of the first bad record or header in File
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corrupt log: %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// ErrLogFailed is returned (wrapped, with the original cause) by every
// write after a write or fsync of the log has failed. After a failed fsync
// the kernel may have dropped the unsynced data, so the log can no longer
// tell what is durable: it stops (fail-stop) rather than pretend. Reopening
// the log recovers what is durable.
var ErrLogFailed = errors.New("wal: log failed earlier and refuses further writes")

// ErrNoSpace is wrapped, with its cause (ENOSPC, see vfs.IsNoSpace), by
// what a write returns when the log could not prepare its next segment for
// lack of disk space: creating the segment file, or filling it with zeros
// up to the segment size, failed. That happens before any record of the
// write is written, and the partial file is removed (giving the space
// back), so nothing of the write, nor of the writes committed in the same
// batch, was written: the log on disk and in memory is exactly as before
// it, the log stays usable, and the same write may be retried, typically
// after a delay, until space returns. A full disk met anywhere else (in
// the middle of writing records, or by an fsync) leaves the log's state
// uncertain and fails it (ErrLogFailed), as any other write error does.
var ErrNoSpace = errors.New("wal: no disk space to prepare the next segment")

// ErrClosed is returned by operations on a closed Log.
var ErrClosed = errors.New("wal: log is closed")
