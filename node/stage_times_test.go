package node

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestObserveProposalStagesInOrder: a single member, which must persist an
// entry before it commits it, reports every stage of every proposal, in
// order, with both persistence modes.
func TestObserveProposalStagesInOrder(t *testing.T) {
	for _, async := range []bool{false, true} {
		name := map[bool]string{false: "synchronous", true: "asynchronous"}[async]
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cluster := newTestClusterWith(t, 0, 1000, streamedSnapshots)
			cluster.peers[1] = "node-1"
			var mu sync.Mutex
			var observed []ProposalTimes
			config := cluster.config(1)
			config.AsyncPersistence = async
			config.ObserveProposal = func(times ProposalTimes) {
				mu.Lock()
				defer mu.Unlock()
				observed = append(observed, times)
			}
			cluster.startWith(config)
			leader := cluster.leader(ctx)
			proposeAll(ctx, t, leader, 1, 20)
			mu.Lock()
			defer mu.Unlock()
			if len(observed) != 20 {
				t.Fatalf("observed %d proposals, want 20", len(observed))
			}
			for i, times := range observed {
				stages := []time.Time{times.Submitted, times.Appended, times.Persisted, times.Committed, times.Applied}
				for stage, at := range stages {
					if at.IsZero() {
						t.Fatalf("proposal %d: stage %d has no time: %+v", i, stage, times)
					}
					if stage > 0 && at.Before(stages[stage-1]) {
						t.Fatalf("proposal %d: stage %d before stage %d: %+v", i, stage, stage-1, times)
					}
				}
			}
		})
	}
}

// TestStageClockMarks: persist marks stay in index order through a
// truncation, asynchronous writes become marks when durable, and applied
// entries' marks are forgotten.
func TestStageClockMarks(t *testing.T) {
	clock := &stageClock{}
	clock.wrote(5)
	clock.wrote(9)
	clock.wrote(7) // a conflicting suffix from 8 on was replaced
	if len(clock.marks) != 2 || clock.marks[1].index != 7 {
		t.Fatalf("marks after a truncation: %+v", clock.marks)
	}
	clock.queuedWrite(3, 12)
	clock.queuedWrite(4, 15)
	clock.durable(3)
	if len(clock.marks) != 3 || clock.marks[2].index != 12 || len(clock.queued) != 1 {
		t.Fatalf("after sequence 3 is durable: marks %+v, queued %+v", clock.marks, clock.queued)
	}
	if at := clock.persistedAt(13); !at.IsZero() {
		t.Fatalf("index 13 reported durable at %v before its write was", at)
	}
	clock.durable(4)
	if at := clock.persistedAt(13); at.IsZero() {
		t.Fatalf("index 13 not reported durable after sequence 4")
	}
	clock.appliedUpTo(16)
	if len(clock.marks) != 0 {
		t.Fatalf("marks kept below the applied index: %+v", clock.marks)
	}
	var none *stageClock // a node without ObserveProposal
	none.wrote(1)
	none.queuedWrite(1, 1)
	none.durable(1)
	none.appliedUpTo(1)
}
