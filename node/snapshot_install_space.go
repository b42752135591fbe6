package node

import (
	"errors"
	"time"

	"github.com/lockstepdb/lockstep/internal/retry"
	"github.com/lockstepdb/lockstep/vfs"
	"github.com/lockstepdb/lockstep/wal"
)

// untilSpace runs step, the saving of a snapshot from the leader or its
// record in the log, and, with AsyncPersistence, runs it again while it
// fails for want of disk space: after a delay that doubles from 10 ms to
// a second, as the writer retries the log's writes (saveWaitingForSpace).
// Both steps leave nothing behind when the disk refuses them (the
// snapshot store removes its partial file; the log writes nothing of a
// batch it has no segment for), so trying again is safe. The pause is
// reported as the writer's (LogDiskFull, logged once at its start and
// once at its end). It returns step's last error, or ErrStopped when the
// node is told to stop while it waits. Loop goroutine only: the loop
// waits here as it waits in drain for the writes before the snapshot, so
// the node answers nothing until space returns, but it does not stop.
//
// Without AsyncPersistence a full disk stops the node, as any failed
// write does (see LogDiskFull).
func (n *Node) untilSpace(step func() error) error {
	err := step()
	if n.writer == nil || !needsSpace(err) {
		return err
	}
	backoff := retry.Backoff[struct{}]{First: firstDiskFullRetry, Last: lastDiskFullRetry}
	for needsSpace(err) {
		n.writer.pauseWrites(err)
		timer := time.NewTimer(backoff.Failed(struct{}{}))
		select {
		case <-n.stopping:
			timer.Stop()
			return ErrStopped
		case <-timer.C:
		}
		err = step()
	}
	n.writer.resumeWrites(err)
	return err
}

// needsSpace reports whether err is a refusal for want of disk space that
// left nothing behind: the log's wal.ErrNoSpace, or ENOSPC from the
// snapshot store (which removes its partial file). A log that failed for
// good is never one, whatever its cause said.
func needsSpace(err error) bool {
	if err == nil || errors.Is(err, wal.ErrLogFailed) {
		return false
	}
	return errors.Is(err, wal.ErrNoSpace) || vfs.IsNoSpace(err)
}
