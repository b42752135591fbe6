package node

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lockstepdb/lockstep/internal/retry"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/wal"
)

// coreStorage is the log as the core sees it. A snapshot whose data cannot
// be loaded (a read error, a damaged file) is reported to the core as
// temporarily unavailable, so the leader retries later instead of
// panicking, and the error is logged for the operator: only the follower
// that needs the snapshot waits, the cluster goes on. The core would retry
// on every heartbeat response, and a load reads a store-sized file on the
// loop goroutine, so a failed snapshot is not read again for a second, then
// for twice as long after each failure (up to a minute), unless the log
// moves to another snapshot.
type coreStorage struct {
	*wal.Storage
	log *slog.Logger
	// withoutData: the transport streams snapshots from their files
	// (SnapshotStreamer), so Snapshot returns the metadata only and the
	// file is read, and verified, on the transport's goroutine as it is
	// sent; a damaged file then fails the transfer, which the transport
	// reports, and the core sends the snapshot again later.
	withoutData bool
	// choose returns the snapshot to send, given the log's compaction
	// point, and whether it can be sent yet (snapshotToSend); until it
	// can, the snapshot is temporarily unavailable. data loads a
	// snapshot's data whole (without withoutData). Both are required.
	choose func(logPoint raft.SnapshotMetadata) (raft.SnapshotMetadata, bool)
	data   func(raft.SnapshotMetadata) ([]byte, error)

	// retries paces the loads of a snapshot that failed (loop goroutine
	// only, as is lastReport).
	retries    retry.Backoff[snapshotKey]
	lastReport time.Time

	// failures counts failed loads (tests read it from other goroutines).
	failures atomic.Int64
}

// snapshotKey identifies a snapshot: its index and term.
type snapshotKey struct{ index, term uint64 }

func keyOf(metadata raft.SnapshotMetadata) snapshotKey {
	return snapshotKey{metadata.Index, metadata.Term}
}

// Snapshot implements raft.Storage; called from the loop goroutine.
func (s *coreStorage) Snapshot() (raft.Snapshot, error) {
	point, ready := s.choose(s.Storage.Log().SnapshotMetadata())
	if !ready {
		return raft.Snapshot{}, fmt.Errorf("%w: snapshot %d holds no image; taking one that does", raft.ErrSnapshotTemporarilyUnavailable, point.Index)
	}
	if s.withoutData {
		return raft.Snapshot{Metadata: point}, nil
	}
	if wait := s.retries.Wait(keyOf(point)); wait > 0 {
		return raft.Snapshot{}, fmt.Errorf("%w: snapshot %d could not be loaded; next try in %v", raft.ErrSnapshotTemporarilyUnavailable, point.Index, wait.Round(time.Millisecond))
	}
	data, err := s.data(point)
	if err != nil {
		delay := s.retries.Failed(keyOf(point))
		failures := s.failures.Add(1)
		if now := time.Now(); now.Sub(s.lastReport) >= time.Minute {
			s.log.Error("cannot load the latest snapshot to catch a follower up; retrying", "error", err, "failures", failures, "next_try", delay)
			s.lastReport = now
		}
		return raft.Snapshot{}, fmt.Errorf("%w: %v", raft.ErrSnapshotTemporarilyUnavailable, err)
	}
	if s.retries.Succeeded(keyOf(point)) {
		s.log.Info("the latest snapshot loads again", "index", point.Index)
	}
	return raft.Snapshot{Metadata: point, Data: data}, nil
}
