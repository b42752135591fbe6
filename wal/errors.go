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

// ErrClosed is returned by operations on a closed Log.
var ErrClosed = errors.New("wal: log is closed")
