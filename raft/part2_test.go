package raft

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// Scenario: a follower far behind catches up through a snapshot, then
// through the log; a duplicate of the snapshot changes nothing.
func TestScenarioFollowerFarBehindCatchesUpThroughSnapshot(t *testing.T) {
	cluster := newTestCluster(t, 3, nil)
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
}

// clusterWithFollowerBehindSnapshot returns a 3-node cluster led by node 1
// whose node 3 is down and behind the leader's snapshot, so that it can
// only catch up by one; each snapshot message is passed to drop, which
// says whether it is lost.
func clusterWithFollowerBehindSnapshot(t *testing.T, drop func() bool) *testCluster {
	cluster := newTestCluster(t, 3, nil)
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
	sent := 0
	cluster := clusterWithFollowerBehindSnapshot(t, func() bool {
		sent++
		return sent == 1
	})
	cluster.restart(3)
	cluster.tickAll(3 * cluster.core(1).config.ElectionTicks)
	if sent < 2 || cluster.nodes[3].snapshotsInstalled != 1 {
		t.Fatalf("snapshot sent %d times, installed %d times; want a resend and one install", sent, cluster.nodes[3].snapshotsInstalled)
	}
}

// Read barriers draw rounds of heartbeat responses: a snapshot still in
// transit must not be sent again because of them, only once an election
// timeout has passed on the leader's clock.
func TestReadsDoNotResendASnapshotInTransit(t *testing.T) {
	sent := 0
	cluster := clusterWithFollowerBehindSnapshot(t, func() bool {
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
}

// Scenario: a learner receives the log without voting, then is promoted
// through joint consensus once it has caught up.
func TestScenarioLearnerIsPromoted(t *testing.T) {
	cluster := newTestClusterWithSpares(t, 3, 1, nil)
	cluster.elect(1)
	cluster.propose(1, "a")
	if _, _, err := cluster.core(1).ProposeMembershipChange(MembershipChange{Kind: AddVoter, Node: 4}); !errors.Is(err, ErrInvalidMembershipChange) {
		t.Fatalf("adding an unknown node straight as a voter: %v, want a learner-first error", err)
	}
	if _, _, err := cluster.core(1).ProposeMembershipChange(MembershipChange{Kind: AddLearner, Node: 4}); err != nil {
		t.Fatal(err)
	}
	cluster.deliver()
	cluster.tickAll(2)
	if got := cluster.appliedCommands(4); !slices.Contains(got, "a") {
		t.Fatalf("learner applied %v", got)
	}
	if cluster.core(4).isVoter(4) {
		t.Fatal("learner counts as a voter")
	}
	if _, _, err := cluster.core(1).ProposeMembershipChange(MembershipChange{Kind: AddVoter, Node: 4}); err != nil {
		t.Fatal(err)
	}
	// The change goes through C_old,new and on to C_new by itself.
	if joint := cluster.membership(1); len(joint.OutgoingVoters) != 3 || len(joint.Voters) != 4 {
		t.Fatalf("after proposing: %+v, want the joint configuration", joint)
	}
	cluster.deliver()
	cluster.tickAll(2)
	for _, id := range cluster.ids {
		m := cluster.membership(id)
		if len(m.OutgoingVoters) != 0 || !slices.Contains(m.Voters, 4) || len(m.Voters) != 4 {
			t.Errorf("node %d membership %+v, want 4 voters, not joint", id, m)
		}
	}
	// Node 4 now votes: with 1 and 2 down it and 3 cannot win, with 2
	// down it, 1 and 3 keep committing.
	cluster.down[2] = true
	cluster.propose(1, "b")
	if got := cluster.appliedCommands(4); !slices.Contains(got, "b") {
		t.Fatalf("a 4-voter cluster with one down did not commit through the promoted node: %v", got)
	}
}

// Scenario: a leader removed by a joint-consensus change hands over and
// steps down once the new configuration is committed.
func TestScenarioRemovedLeaderHandsOverAndStepsDown(t *testing.T) {
	cluster := newTestCluster(t, 3, nil)
	cluster.elect(1)
	cluster.propose(1, "a")
	if _, _, err := cluster.core(1).ProposeMembershipChange(MembershipChange{Kind: RemoveNode, Node: 1}); err != nil {
		t.Fatal(err)
	}
	cluster.deliver()
	if cluster.core(1).role == RoleLeader {
		t.Fatal("the removed leader still leads after C_new committed")
	}
	// It handed over: a new leader is in office without waiting for an
	// election timeout.
	leaders := 0
	for _, id := range []NodeID{2, 3} {
		if cluster.core(id).role == RoleLeader {
			leaders++
			cluster.propose(id, "b")
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders among the remaining nodes right after the hand-over", leaders)
	}
	cluster.tickAll(50)
	if cluster.core(1).role != RoleFollower || cluster.core(1).isVoter(1) {
		t.Fatalf("removed node: role %s, voter %v", cluster.core(1).role, cluster.core(1).isVoter(1))
	}
}

// During C_old,new a decision needs a majority of both configurations.
func TestJointConfigurationNeedsBothMajorities(t *testing.T) {
	cluster := newTestClusterWithSpares(t, 3, 2, nil)
	cluster.elect(1)
	for _, id := range []NodeID{4, 5} {
		if _, _, err := cluster.core(1).ProposeMembershipChange(MembershipChange{Kind: AddLearner, Node: id}); err != nil {
			t.Fatal(err)
		}
		cluster.deliver()
	}
	// Replace 2 and 3 by 4 and 5: old {1,2,3}, new {1,4,5}. The joint
	// entry reaches only 4 and 5: a new majority but no old one.
	cluster.cutLink(1, 2)
	cluster.cutLink(1, 3)
	index, _, err := cluster.core(1).ProposeMembershipChange(
		MembershipChange{Kind: AddVoter, Node: 4}, MembershipChange{Kind: AddVoter, Node: 5},
		MembershipChange{Kind: RemoveNode, Node: 2}, MembershipChange{Kind: RemoveNode, Node: 3})
	if err != nil {
		t.Fatal(err)
	}
	cluster.deliver()
	if cluster.core(1).log.committed >= index {
		t.Fatalf("joint entry committed by the new majority alone")
	}
	cluster.heal()
	cluster.tickAll(3)
	if m := cluster.membership(1); !slices.Equal(sortedIDs(m.Voters), []NodeID{1, 4, 5}) || len(m.OutgoingVoters) != 0 {
		t.Fatalf("final membership %+v, want voters 1 4 5", m)
	}
}

func TestMembershipChangesAreValidated(t *testing.T) {
	cluster := newTestClusterWithSpares(t, 1, 1, nil)
	cluster.elect(1)
	leader := cluster.core(1)
	for name, change := range map[string]MembershipChange{
		"remove the last voter": {Kind: RemoveNode, Node: 1},
		"remove an unknown":     {Kind: RemoveNode, Node: 9},
		"promote an unknown":    {Kind: AddVoter, Node: 9},
		"add an existing voter": {Kind: AddLearner, Node: 1},
		"node zero":             {Kind: AddLearner, Node: 0},
		"unknown kind":          {Kind: 77, Node: 2},
	} {
		if _, _, err := leader.ProposeMembershipChange(change); !errors.Is(err, ErrInvalidMembershipChange) {
			t.Errorf("%s: %v, want ErrInvalidMembershipChange", name, err)
		}
	}
	// One change at a time.
	cluster.down[2] = true
	if _, _, err := leader.ProposeMembershipChange(MembershipChange{Kind: AddLearner, Node: 2}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := leader.ProposeMembershipChange(MembershipChange{Kind: RemoveNode, Node: 2}); !errors.Is(err, ErrMembershipChangeInProgress) {
		t.Errorf("second change while the first is uncommitted: %v", err)
	}
	cluster.deliver()
	// The learner is down, so it has not caught up: no promotion.
	if _, _, err := leader.ProposeMembershipChange(MembershipChange{Kind: AddVoter, Node: 2}); !errors.Is(err, ErrInvalidMembershipChange) {
		t.Errorf("promoting a learner that is behind: %v", err)
	}
	if _, _, err := cluster.core(2).ProposeMembershipChange(MembershipChange{Kind: AddLearner, Node: 3}); err == nil {
		t.Error("a follower accepted a membership change")
	}
}

// A configuration takes effect when appended, and is undone when its entry
// is truncated away.
func TestMembershipEntryTakesEffectWhenAppendedAndUndoneWhenTruncated(t *testing.T) {
	follower := newFollowerWithLog(t, 2, []uint64{1, 1}, 2)
	changed := Membership{Voters: []NodeID{1, 2, 3}, Learners: []NodeID{4}}
	stepAndReady(t, follower, Message{Type: MessageAppend, From: 1, To: 2, Term: 2, LogIndex: 2, LogTerm: 1,
		Entries: []Entry{{Index: 3, Term: 2, Type: EntryMembership, Data: EncodeMembership(changed)}}})
	if !slices.Equal(follower.membership.Learners, []NodeID{4}) {
		t.Fatalf("uncommitted configuration not in effect: %+v", follower.membership)
	}
	stepAndReady(t, follower, Message{Type: MessageAppend, From: 3, To: 2, Term: 3, LogIndex: 2, LogTerm: 1,
		Entries: []Entry{{Index: 3, Term: 3}}})
	if len(follower.membership.Learners) != 0 {
		t.Fatalf("truncated configuration still in effect: %+v", follower.membership)
	}
}

// A restarted node rebuilds its membership from its log.
func TestMembershipSurvivesRestart(t *testing.T) {
	cluster := newTestClusterWithSpares(t, 3, 1, nil)
	cluster.elect(1)
	if _, _, err := cluster.core(1).ProposeMembershipChange(MembershipChange{Kind: AddLearner, Node: 4}); err != nil {
		t.Fatal(err)
	}
	cluster.deliver()
	cluster.crash(2)
	if !slices.Equal(cluster.membership(2).Learners, []NodeID{4}) {
		t.Fatalf("after restart: %+v", cluster.membership(2))
	}
}

func readStatesOf(cluster *testCluster, id NodeID) []ReadState { return cluster.nodes[id].readStates }

// ReadIndex on the leader returns the commit index once a quorum confirmed
// leadership; on a follower, via the leader.
func TestReadIndexOnLeaderAndFollower(t *testing.T) {
	cluster := newTestCluster(t, 3, nil)
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
}

// A new leader answers reads only once an entry of its own term committed:
// before that its commit index may lag behind what was committed.
func TestReadIndexWaitsForLeadersOwnCommit(t *testing.T) {
	cluster := newTestCluster(t, 3, nil)
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
}

// Scenario: during a partition of the old leader, a read returns no stale
// data: the old leader cannot confirm its leadership, so it answers nothing,
// while a read through the new leader sees the new write.
func TestScenarioReadDuringPartitionOfOldLeaderIsNeverStale(t *testing.T) {
	cluster := newTestCluster(t, 3, func(c *Config) { c.DisableCheckQuorum = true })
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
}

// Scenario: a transfer to a lagging follower first catches it up, refusing
// proposals meanwhile, and works with PreVote on.
func TestScenarioTransferToLaggingFollowerCatchesItUpFirst(t *testing.T) {
	cluster := newTestCluster(t, 3, nil) // PreVote and CheckQuorum on
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
}

// A transfer whose target never answers is abandoned after an election
// timeout, and the leader accepts proposals again.
func TestTransferAbortedAfterElectionTimeout(t *testing.T) {
	cluster := newTestCluster(t, 3, nil)
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
}

// A node removed by a configuration entry that is appended but not yet
// committed may still stand for election. Otherwise, if the remaining voter
// lost that entry, it would need the removed node's vote and never get it
// (the removed node's log is longer): the cluster would stall for good.
// Found by the simulator.
func TestNodeRemovedByUncommittedConfigurationCanStillStand(t *testing.T) {
	cluster := newTestCluster(t, 2, nil)
	cluster.elect(1)
	cluster.propose(1, "a")
	// Node 2 never receives C_new (the entry after the joint one).
	cluster.drop = func(m Message) bool {
		for _, entry := range m.Entries {
			if entry.Type == EntryMembership {
				if membership, _ := DecodeMembership(entry.Data); len(membership.OutgoingVoters) == 0 {
					return m.To == 2
				}
			}
		}
		return false
	}
	if _, _, err := cluster.core(1).ProposeMembershipChange(MembershipChange{Kind: RemoveNode, Node: 1}); err != nil {
		t.Fatal(err)
	}
	cluster.deliver()
	if m := cluster.membership(1); len(m.OutgoingVoters) != 0 || slices.Contains(m.Voters, 1) {
		t.Fatalf("setup: node 1 should hold C_new without itself: %+v", m)
	}
	if m := cluster.membership(2); len(m.OutgoingVoters) == 0 {
		t.Fatalf("setup: node 2 should still be in the joint configuration: %+v", m)
	}
	cluster.drop = nil
	cluster.crash(1) // forgets it was leader
	cluster.tickAll(60)
	if cluster.core(2).role != RoleLeader {
		t.Fatalf("no way out: node 2 is %s, node 1 is %s", cluster.core(2).role, cluster.core(1).role)
	}
	if m := cluster.membership(2); len(m.OutgoingVoters) != 0 || !slices.Equal(m.Voters, []NodeID{2}) {
		t.Fatalf("final configuration %+v, want voters [2]", m)
	}
}
