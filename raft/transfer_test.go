package raft

import (
	"errors"
	"fmt"
	"testing"
)

// Scenario: a transfer to a lagging follower first catches it up, refusing
// proposals meanwhile, and works with PreVote on.
func TestScenarioTransferToLaggingFollowerCatchesItUpFirst(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil) // PreVote and CheckQuorum on
		cluster.elect(1)
		cluster.cutLink(1, 3)
		for i := 0; i < 5; i++ {
			cluster.propose(1, fmt.Sprint(i))
		}
		if err := cluster.core(1).TransferLeadership(3); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cluster.core(1).Propose([]byte("during")); !errors.Is(err, ErrTransferInProgress) {
			t.Fatalf("proposal during transfer: %v", err)
		}
		cluster.heal()
		cluster.tickAll(2)
		if cluster.core(3).role != RoleLeader {
			t.Fatalf("transfer target is %s", cluster.core(3).role)
		}
		if got := cluster.appliedCommands(3); len(got) != 5 {
			t.Fatalf("new leader applied %v", got)
		}
	})
}

// A transfer whose target never answers is abandoned after an election
// timeout, and the leader accepts proposals again.
func TestTransferAbortedAfterElectionTimeout(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		cluster.down[3] = true
		if err := cluster.core(1).TransferLeadership(3); err != nil {
			t.Fatal(err)
		}
		cluster.tickAll(cluster.core(1).config.ElectionTicks)
		if cluster.core(1).role != RoleLeader {
			t.Fatal("leader lost office during an abandoned transfer")
		}
		if _, _, err := cluster.core(1).Propose([]byte("after")); err != nil {
			t.Fatalf("proposal after the transfer timed out: %v", err)
		}
	})
}

// Scenario: the target's vote request reaches a follower before the
// leader's announcement of the transfer does (they travel on different
// links). Without LeaseReads the follower's lease only guards against
// disruption, so it trusts the request, as etcd does; and the leader votes
// for the target it is handing over to. Before, both ignored the request
// and the transfer was abandoned after an election timeout.
func TestScenarioTransferVoteOutrunsTheAnnouncement(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 5, nil) // PreVote and CheckQuorum on
		cluster.elect(1)
		cluster.propose(1, "x")
		for _, id := range []NodeID{3, 4, 5} {
			cluster.cutLink(1, id) // the announcement is late to reach them
		}
		if err := cluster.core(1).TransferLeadership(2); err != nil {
			t.Fatal(err)
		}
		cluster.deliver()
		if cluster.core(2).role != RoleLeader {
			t.Fatalf("transfer target is %s at term %d", cluster.core(2).role, cluster.core(2).term)
		}
	})
}

// With LeaseReads a follower answers a transfer vote only once the leader
// announced the transfer (TestTransferVoteNeedsAnnouncedTransfer), but the
// leader itself votes for its target: in three members that is a quorum
// even when the announcement is late to reach the third.
func TestScenarioLeaseTransferWinsWithTheLeadersVote(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, withLeaseReads)
		cluster.elect(1)
		cluster.propose(1, "x")
		cluster.cutLink(1, 3)
		if err := cluster.core(1).TransferLeadership(2); err != nil {
			t.Fatal(err)
		}
		cluster.deliver()
		if cluster.core(2).role != RoleLeader {
			t.Fatalf("transfer target is %s at term %d", cluster.core(2).role, cluster.core(2).term)
		}
		if cluster.core(3).term == cluster.core(2).term && cluster.core(3).vote == 2 {
			t.Fatal("a follower in the lease answered a transfer vote the leader had not announced to it")
		}
	})
}
