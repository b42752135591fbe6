package node

import (
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

// asyncTestClusters makes newTestCluster's nodes run with AsyncPersistence:
// set only by TestClustersWithAsyncPersistence.
var asyncTestClusters bool

// The whole-node scenarios (elections, partitions, restarts, snapshots from
// the leader, membership changes) hold with the writer goroutine too.
func TestClustersWithAsyncPersistence(t *testing.T) {
	asyncTestClusters = true
	defer func() { asyncTestClusters = false }()
	t.Run("ProposeReadAndRestart", TestProposeReadAndRestart)
	t.Run("LeaderPartitionedThenNewLeader", TestLeaderPartitionedThenNewLeader)
	t.Run("LearnerJoinsBySnapshot", TestLearnerJoinsBySnapshotPromotedThenTransferAndRemove)
}

func entriesOf(terms map[uint64]uint64, low, high uint64) []raft.Entry {
	var entries []raft.Entry
	for index := low; index <= high; index++ {
		entries = append(entries, raft.Entry{Index: index, Term: terms[index]})
	}
	return entries
}

// Writes merged into one Save leave the log as the writes one by one would:
// a later write replaces every earlier entry from its first index on, and
// the last hard state wins.
func TestMergeWrites(t *testing.T) {
	old := map[uint64]uint64{5: 1, 6: 1, 7: 1, 8: 1}
	replacement := map[uint64]uint64{6: 2, 7: 2, 9: 2}
	first := entriesOf(old, 5, 8)
	batch := []logWrite{
		{sequence: 1, hardState: raft.HardState{Term: 1, Commit: 4}, entries: first},
		{sequence: 2, entries: entriesOf(replacement, 6, 7)},
		{sequence: 3, hardState: raft.HardState{Term: 2, Commit: 5}},
		{sequence: 4, entries: []raft.Entry{{Index: 8, Term: 2}}},
	}
	hardState, entries := mergeWrites(batch)
	if hardState != (raft.HardState{Term: 2, Commit: 5}) {
		t.Fatalf("hard state %+v, want the last one written", hardState)
	}
	want := []raft.Entry{{Index: 5, Term: 1}, {Index: 6, Term: 2}, {Index: 7, Term: 2}, {Index: 8, Term: 2}}
	if len(entries) != len(want) {
		t.Fatalf("merged %v, want %v", entries, want)
	}
	for i := range want {
		if entries[i].Index != want[i].Index || entries[i].Term != want[i].Term {
			t.Fatalf("merged %v, want %v", entries, want)
		}
	}
	if first[1].Term != 1 || first[3].Term != 1 {
		t.Fatalf("merging wrote into a write's own entries: %v", first)
	}
	// A write that replaces everything from before the first one's start.
	_, entries = mergeWrites([]logWrite{{entries: entriesOf(old, 6, 8)}, {entries: entriesOf(replacement, 6, 6)}, {entries: []raft.Entry{{Index: 5, Term: 3}}}})
	if len(entries) != 1 || entries[0].Index != 5 || entries[0].Term != 3 {
		t.Fatalf("merged %v, want only 5/3", entries)
	}
}
