package node

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/wal"
)

// coreStorage is the log as the core sees it. A snapshot whose data cannot
// be loaded (a read error, a damaged file) is reported to the core as
// temporarily unavailable, so the leader retries on a later heartbeat
// response instead of panicking, and the error is logged for the operator:
// only the follower that needs the snapshot waits, the cluster goes on.
type coreStorage struct {
	*wal.Storage
	log *slog.Logger
	// lastReport is when the last failure was logged: the core retries on
	// every heartbeat response, so failures are logged once a minute.
	lastReport time.Time
	failures   int
}

// Snapshot implements raft.Storage; called from the loop goroutine.
func (s *coreStorage) Snapshot() (raft.Snapshot, error) {
	snapshot, err := s.Storage.Snapshot()
	if err != nil {
		s.failures++
		if now := time.Now(); now.Sub(s.lastReport) >= time.Minute {
			s.log.Error("cannot load the latest snapshot to catch a follower up; retrying", "error", err, "failures", s.failures)
			s.lastReport = now
		}
		return raft.Snapshot{}, fmt.Errorf("%w: %v", raft.ErrSnapshotTemporarilyUnavailable, err)
	}
	return snapshot, nil
}
