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
	// newest returns the newest snapshot saved or installed, which is sent
	// rather than the log's compaction point (the snapshot before it): a
	// follower caught up by it needs only the entries after it, which the
	// log keeps until the snapshot after next, so it gets a whole interval
	// more to fetch them before the leader compacts them away and must
	// send another. etcd sends its newest snapshot too. data loads a
	// snapshot's data whole (without withoutData).
	newest func() raft.SnapshotMetadata
	data   func(raft.SnapshotMetadata) ([]byte, error)
	// imageReady says whether the snapshot's file holds its image, and
	// asks for a snapshot with one if not (snapshotImageReady): until
	// then the snapshot is temporarily unavailable.
	imageReady func(raft.SnapshotMetadata) bool

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
	point := s.Storage.Log().SnapshotMetadata()
	if s.newest != nil {
		if newest := s.newest(); newest.Index > point.Index {
			point = newest
		}
	}
	if s.imageReady != nil && !s.imageReady(point) {
		return raft.Snapshot{}, fmt.Errorf("%w: snapshot %d holds no image; taking one that does", raft.ErrSnapshotTemporarilyUnavailable, point.Index)
	}
	if s.withoutData {
		return raft.Snapshot{Metadata: point}, nil
	}
	if wait := s.retries.Wait(keyOf(point)); wait > 0 {
		return raft.Snapshot{}, fmt.Errorf("%w: snapshot %d could not be loaded; next try in %v", raft.ErrSnapshotTemporarilyUnavailable, point.Index, wait.Round(time.Millisecond))
	}
	snapshot, err := s.load(point)
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
	return snapshot, nil
}

// load reads the data of the snapshot at point, with data if set, or the
// log's own loader (which loads its compaction point).
func (s *coreStorage) load(point raft.SnapshotMetadata) (raft.Snapshot, error) {
	if s.data == nil {
		return s.Storage.Snapshot()
	}
	data, err := s.data(point)
	if err != nil {
		return raft.Snapshot{}, err
	}
	return raft.Snapshot{Metadata: point, Data: data}, nil
}
