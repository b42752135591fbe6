package raft

import (
	"fmt"
	"slices"
	"testing"
)

// Scenario: a follower far behind catches up through a snapshot, then
// through the log; a duplicate of the snapshot changes nothing.
func TestScenarioFollowerFarBehindCatchesUpThroughSnapshot(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		cluster.down[3] = true
		for i := 0; i < 50; i++ {
			cluster.propose(1, fmt.Sprint(i))
		}
		cluster.snapshot(1)
		if first := cluster.core(1).log.firstIndex(); first < 50 {
			t.Fatalf("setup: leader's log still starts at %d", first)
		}
		var snapshots []Message
		cluster.drop = func(m Message) bool {
			if m.Type == MessageSnapshot {
				snapshots = append(snapshots, m)
			}
			return false
		}
		cluster.restart(3)
		cluster.tickAll(3)
		cluster.propose(1, "after-snapshot")
		cluster.tickAll(2)
		if len(snapshots) != 1 || cluster.nodes[3].snapshotsInstalled != 1 {
			t.Fatalf("%d snapshot messages, %d installed, want 1 and 1", len(snapshots), cluster.nodes[3].snapshotsInstalled)
		}
		want := cluster.appliedCommands(1)
		if got := cluster.appliedCommands(3); !slices.Equal(got, want) || got[len(got)-1] != "after-snapshot" {
			t.Fatalf("node 3 applied %d commands ending %q, want %d ending after-snapshot", len(got), got[len(got)-1], len(want))
		}
		// A stale duplicate of the snapshot is ignored safely.
		before := len(cluster.nodes[3].applied)
		stale := snapshots[0]
		stale.Term = cluster.core(3).term
		if err := cluster.core(3).Step(stale); err != nil {
			t.Fatal(err)
		}
		cluster.deliver()
		if cluster.nodes[3].snapshotsInstalled != 1 || len(cluster.nodes[3].applied) != before {
			t.Fatalf("a duplicate snapshot was installed again")
		}
	})
}

// clusterWithFollowerBehindSnapshot returns a 3-node cluster led by node 1
// whose node 3 is down and behind the leader's snapshot, so that it can
// only catch up by one; each snapshot message is passed to drop, which
// says whether it is lost.
func clusterWithFollowerBehindSnapshot(t *testing.T, mode persistence, drop func() bool) *testCluster {
	cluster := newTestCluster(t, mode, 3, nil)
	cluster.elect(1)
	cluster.down[3] = true
	for i := 0; i < 10; i++ {
		cluster.propose(1, fmt.Sprint(i))
	}
	cluster.snapshot(1)
	cluster.drop = func(m Message) bool { return m.Type == MessageSnapshot && drop() }
	return cluster
}

// A lost snapshot is sent again by the core itself, without the runtime's
// help, once a follower answers heartbeats but not the snapshot.
func TestLostSnapshotIsResent(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		sent := 0
		cluster := clusterWithFollowerBehindSnapshot(t, mode, func() bool {
			sent++
			return sent == 1
		})
		cluster.restart(3)
		cluster.tickAll(3 * cluster.core(1).config.ElectionTicks)
		if sent < 2 || cluster.nodes[3].snapshotsInstalled != 1 {
			t.Fatalf("snapshot sent %d times, installed %d times; want a resend and one install", sent, cluster.nodes[3].snapshotsInstalled)
		}
	})
}

// Read barriers draw rounds of heartbeat responses: a snapshot still in
// transit must not be sent again because of them, only once an election
// timeout has passed on the leader's clock.
func TestReadsDoNotResendASnapshotInTransit(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		sent := 0
		cluster := clusterWithFollowerBehindSnapshot(t, mode, func() bool {
			sent++
			return true // in transit for as long as the test runs
		})
		cluster.restart(3)
		cluster.tickAll(1)
		if sent != 1 {
			t.Fatalf("setup: snapshot sent %d times, want 1", sent)
		}
		ticks := cluster.core(1).config.ElectionTicks
		for i := 0; i < 5*ticks; i++ {
			if err := cluster.core(1).ReadIndex([]byte(fmt.Sprint("read-", i))); err != nil {
				t.Fatal(err)
			}
			cluster.deliver()
		}
		if sent != 1 {
			t.Fatalf("%d rounds of read barriers sent the snapshot %d times, want once", 5*ticks, sent)
		}
		cluster.tickAll(ticks + 1)
		if sent < 2 {
			t.Fatalf("after an election timeout the snapshot was sent %d times, want a resend", sent)
		}
	})
}
