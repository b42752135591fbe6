package raft

import (
	"fmt"
	"testing"
)

func readStatesOf(cluster *testCluster, id NodeID) []ReadState { return cluster.nodes[id].readStates }

// ReadIndex on the leader returns the commit index once a quorum confirmed
// leadership; on a follower, via the leader.
func TestReadIndexOnLeaderAndFollower(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		index, _ := cluster.propose(1, "a")
		cluster.tickAll(1)
		for _, id := range []NodeID{1, 2} {
			if err := cluster.core(id).ReadIndex([]byte(fmt.Sprint("read-on-", id))); err != nil {
				t.Fatal(err)
			}
			cluster.deliver()
			states := readStatesOf(cluster, id)
			if len(states) != 1 || states[0].Index != index || string(states[0].Context) != fmt.Sprint("read-on-", id) {
				t.Fatalf("node %d read states %v, want one at %d", id, states, index)
			}
		}
	})
}

// A new leader answers reads only once an entry of its own term committed:
// before that its commit index may lag behind what was committed.
func TestReadIndexWaitsForLeadersOwnCommit(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		cluster.propose(1, "a")
		// Node 2 wins but nobody hears its empty entry yet.
		cluster.drop = func(m Message) bool { return m.From == 2 && m.Type == MessageAppend }
		cluster.elect(2)
		if err := cluster.core(2).ReadIndex([]byte("early")); err != nil {
			t.Fatal(err)
		}
		cluster.deliver()
		if n := len(readStatesOf(cluster, 2)); n != 0 {
			t.Fatalf("new leader answered a read before committing in its term")
		}
		cluster.drop = nil
		cluster.tickAll(2)
		states := readStatesOf(cluster, 2)
		if len(states) != 1 || cluster.core(2).log.termOrZero(states[0].Index) != cluster.core(2).term {
			t.Fatalf("read states %v, want one at an index of the new term", states)
		}
	})
}

// Scenario: during a partition of the old leader, a read returns no stale
// data: the old leader cannot confirm its leadership, so it answers nothing,
// while a read through the new leader sees the new write.
func TestScenarioReadDuringPartitionOfOldLeaderIsNeverStale(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, func(c *Config) { c.DisableCheckQuorum = true })
		cluster.elect(1)
		cluster.propose(1, "old")
		cluster.isolate(1)
		cluster.elect(2)
		newIndex, _ := cluster.propose(2, "new")
		if err := cluster.core(1).ReadIndex([]byte("on-old-leader")); err != nil {
			t.Fatal(err)
		}
		cluster.tickAll(5)
		if states := readStatesOf(cluster, 1); len(states) != 0 {
			t.Fatalf("partitioned old leader answered a read: %v", states)
		}
		if err := cluster.core(3).ReadIndex([]byte("on-follower")); err != nil {
			t.Fatal(err)
		}
		cluster.deliver()
		states := readStatesOf(cluster, 3)
		if len(states) != 1 || states[0].Index < newIndex {
			t.Fatalf("read through the new leader: %v, want an index >= %d", states, newIndex)
		}
	})
}
