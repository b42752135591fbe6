package kv

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// compactionStepSize is how many event log entries physical compaction
// visits after each applied command. It depends only on the log, so every
// replica's Pebble state stays the same function of the applied entries;
// and it is larger than the one or few events a command adds, so pending
// work shrinks while writes go on.
const compactionStepSize = 64

// compactionContinueStepSize is how many event log entries a continuation
// visits: a Compaction request at exactly the compacted revision, which
// changes nothing else (it is answered ErrGRPCCompacted, as etcd answers
// it). A leader proposes continuations while physical compaction is
// pending (Store.CompactionPending), so the removed versions leave the
// store even when no other write comes. It bounds one apply's work: a
// visit reads one version of its key.
const compactionContinueStepSize = 1024

// compactionBudget returns how many event log entries to visit after
// request, judged against the state before it applies.
func (a *applier) compactionBudget(request *pb.InternalRaftRequest) int {
	if request.Compaction != nil && request.Compaction.Revision == a.state.compacted {
		return compactionContinueStepSize
	}
	return compactionStepSize
}

// CompactionPending reports whether versions a compaction made unreachable
// are still in the store, waiting for the next applied commands to remove
// them. Callable from any goroutine.
func (s *Store) CompactionPending() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.committed.cursorMain < s.committed.compacted
}

// ContinueCompaction returns the request that continues a pending physical
// compaction: a Compaction at the compacted revision (refused with
// ErrGRPCCompacted, changing nothing else, as in etcd), after which the
// store visits compactionContinueStepSize event log entries instead of
// compactionStepSize. Nil when nothing is pending.
func (s *Store) ContinueCompaction() *pb.InternalRaftRequest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.committed.cursorMain >= s.committed.compacted {
		return nil
	}
	return &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: s.committed.compacted}}
}

// applyCompaction compacts the history at a revision, as etcd: at or
// below the previous compaction is ErrGRPCCompacted, above the current
// revision ErrGRPCFutureRev. Reads below the revision fail from now on;
// the versions no read can reach any more are removed a few at a time
// by compactStep.
func (a *applier) applyCompaction(request *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	switch {
	case a.corrupt:
		return nil, rpctypes.ErrGRPCCorrupt
	case request.Revision <= a.state.compacted:
		return nil, rpctypes.ErrGRPCCompacted
	case request.Revision > a.state.revision:
		return nil, rpctypes.ErrGRPCFutureRev
	}
	a.state.compacted = request.Revision
	return &pb.CompactionResponse{Header: a.header()}, nil
}

// compactStep visits up to limit event log entries below the compacted
// revision, from the cursor on. The version an entry points to is newer
// than every older version of its key, and at or below the compacted
// revision, so no read at or after that revision sees the older ones:
// they go (there is at most one left, kept by an earlier compaction). The
// version itself goes when a newer version of the key is at or below the
// compacted revision, or when it is a deletion below it. A deletion
// exactly at the compacted revision stays, as in etcd, so that a watch
// from that revision still sees it; the events of that revision stay too.
func (a *applier) compactStep(limit int) {
	target := a.state.compacted
	if a.state.cursorMain >= target {
		return
	}
	events, err := a.batch.NewIter(&pebble.IterOptions{
		LowerBound: eventKey(a.state.cursorMain, a.state.cursorSub),
		UpperBound: eventKey(target, 0),
	})
	a.must(err)
	defer events.Close()
	history, err := a.batch.NewIter(&pebble.IterOptions{LowerBound: []byte{historyPrefix}, UpperBound: []byte{historyPrefix + 1}})
	a.must(err)
	defer history.Close()
	visited := 0
	first := eventKey(a.state.cursorMain, a.state.cursorSub)
	valid := events.First()
	for ; valid && visited < limit; valid = events.Next() {
		main, sub, err := parseEventKey(events.Key())
		a.must(err)
		a.must(a.compactVersion(history, events.Value(), main, sub, target))
		a.state.cursorMain, a.state.cursorSub = main, sub+1
		visited++
	}
	a.must(events.Error())
	if !valid {
		a.state.cursorMain, a.state.cursorSub = target, 0
		a.compactionFinished = true
	}
	// The visited entries of the event log, in one range deletion.
	a.must(a.batch.DeleteRange(first, eventKey(a.state.cursorMain, a.state.cursorSub), nil))
}

// flushAfterCompaction starts a flush of Pebble's memtables once an Apply
// call finished a compaction's removals: until its deletions are in files,
// Pebble neither counts what they cover (Size's inUse) nor compacts it
// away, and an idle store would not flush for a long time. The flush runs
// in the background; the Raft log holds everything it writes anyway.
func (s *Store) flushAfterCompaction(database *database) {
	flushed, err := database.db.AsyncFlush()
	if err != nil {
		s.logger.Warn("kv: flush after compaction", "error", err)
		return
	}
	s.compactHistory(database, flushed)
}

// compactHistory has Pebble rewrite the history table once flushed is
// closed, in the background, if the store has blob files, unless a rewrite
// already runs or the database is retired. It reads Pebble's metrics on
// its own goroutine, not on the apply path that calls it. A store with
// blob files needs the rewrite (see
// valueSeparation): a range deletion over versions whose values are in
// blob files covers little of the tables themselves, so Pebble neither
// counts those values as garbage (Size) nor hurries to compact them away,
// and their files keep them until the tables that reference them are
// rewritten. The rewrite moves keys and references, not the separated
// values; Pebble then gives the values' space back as it rewrites the
// blob files.
func (s *Store) compactHistory(database *database, flushed <-chan struct{}) {
	if !database.acquire() {
		return
	}
	if !database.compactingHistory.CompareAndSwap(false, true) {
		database.release()
		return
	}
	go func() {
		defer database.release()
		defer database.compactingHistory.Store(false)
		select {
		case <-flushed:
		case <-database.background.Done():
			return
		}
		if database.db.Metrics().BlobFiles.LiveCount == 0 {
			return // every value is in the tables: the range deletions say what they cover
		}
		lower, upper := tableBounds(historyPrefix)
		if err := database.db.Compact(database.background, lower, upper, false); err != nil && database.background.Err() == nil {
			s.logger.Warn("kv: compact the history after a compaction", "error", err)
		}
	}()
}

// compactVersion removes the versions of key older than (main, sub), and
// that version too if no read at or after target can see it. history is
// an iterator over the history table as of the step's start: removals
// made during the step do not change what it finds.
func (a *applier) compactVersion(history *pebble.Iterator, key []byte, main, sub, target int64) error {
	prefix := historyKeyPrefix(key)
	if !history.SeekGE(historySeekKey(prefix, target)) || !bytes.HasPrefix(history.Key(), prefix) {
		return fmt.Errorf("kv: compaction: no version of %q at or below %d", key, target)
	}
	_, latestMain, latestSub, err := parseHistoryKey(history.Key())
	if err != nil {
		return err
	}
	value, err := history.ValueAndErr()
	if err != nil {
		return err
	}
	latest, err := decodeRecord(value, false)
	if err != nil {
		return err
	}
	removeVersion := latestMain != main || latestSub != sub || (latest.tombstone && main < target)
	// The versions to remove are adjacent in the history table (a key's
	// versions sort newest first): one range deletion covers them. Pebble
	// then knows how many bytes it covers (Metrics' garbage estimate, so
	// Size reports what is in use), and drops whole files it covers without
	// rewriting them.
	start := historyKey(key, main, sub)
	if !removeVersion {
		start = append(start, 0) // the smallest key after this version
	}
	return a.batch.DeleteRange(start, nextPrefix(prefix), nil)
}
