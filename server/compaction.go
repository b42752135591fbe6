package server

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// compactionCheckInterval is how often the leader looks for physical
// compaction work left: a look is one read of the store's state.
const compactionCheckInterval = 100 * time.Millisecond

// driveCompaction removes, while this member leads, the versions a
// compaction made unreachable even when no write comes to do it: each
// applied command removes a few (kv's compaction steps), and a
// continuation (kv.Store.ContinueCompaction) removes more. The leader
// proposes continuations one after another until nothing is pending; each
// is answered ErrGRPCCompacted, which is its expected answer. It ends when
// the server stops.
func (s *Server) driveCompaction() { s.every(compactionCheckInterval, s.continueCompaction) }

// continueCompaction proposes continuations while this member leads and
// the store has compaction work left.
func (s *Server) continueCompaction() {
	for s.leader.Load() == uint64(s.id) {
		request := s.store.ContinueCompaction()
		if request == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.requestTimeout())
		_, err := s.propose(ctx, request)
		cancel()
		if err != nil && !errors.Is(err, rpctypes.ErrGRPCCompacted) {
			s.log.Debug("continuing a compaction failed; will retry", "error", err)
			return
		}
	}
}

// every calls step every interval until the server stops; the goroutine
// of a periodic task of the server.
func (s *Server) every(interval time.Duration, step func()) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stopping:
			return
		case <-ticker.C:
			step()
		}
	}
}

// physicalPollInterval is how often a physical Compact looks whether the
// store has removed what the compaction made unreachable.
const physicalPollInterval = 10 * time.Millisecond

// waitCompacted returns once this member's store has removed every version
// its last compaction made unreachable, as etcd answers a physical Compact
// only after its compaction ran; ctx's end is answered as etcd's errors
// for it.
func (s *Server) waitCompacted(ctx context.Context) error {
	ticker := time.NewTicker(physicalPollInterval)
	defer ticker.Stop()
	for s.store.CompactionPending() {
		select {
		case <-ctx.Done():
			return s.clientError(ctx, ctx.Err())
		case <-s.stopping:
			return rpctypes.ErrGRPCStopped
		case <-ticker.C:
		}
	}
	return nil
}
