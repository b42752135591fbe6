package raft

import (
	"errors"
	"slices"
	"testing"
)

// Scenario: a learner receives the log without voting, then is promoted
// through joint consensus once it has caught up.
func TestScenarioLearnerIsPromoted(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestClusterWithSpares(t, mode, 3, 1, nil)
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
	})
}

// Scenario: a leader removed by a joint-consensus change hands over and
// steps down once the new configuration is committed.
func TestScenarioRemovedLeaderHandsOverAndStepsDown(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
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
	})
}

// During C_old,new a decision needs a majority of both configurations.
func TestJointConfigurationNeedsBothMajorities(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestClusterWithSpares(t, mode, 3, 2, nil)
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
	})
}

func TestMembershipChangesAreValidated(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestClusterWithSpares(t, mode, 1, 1, nil)
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
		// The learner is down, so it has not caught up: no promotion,
		// with the error that says a later try may pass.
		if _, _, err := leader.ProposeMembershipChange(MembershipChange{Kind: AddVoter, Node: 2}); !errors.Is(err, ErrInvalidMembershipChange) || !errors.Is(err, ErrLearnerBehind) {
			t.Errorf("promoting a learner that is behind: %v, want ErrInvalidMembershipChange and ErrLearnerBehind", err)
		}
		if _, _, err := cluster.core(2).ProposeMembershipChange(MembershipChange{Kind: AddLearner, Node: 3}); err == nil {
			t.Error("a follower accepted a membership change")
		}
	})
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
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestClusterWithSpares(t, mode, 3, 1, nil)
		cluster.elect(1)
		if _, _, err := cluster.core(1).ProposeMembershipChange(MembershipChange{Kind: AddLearner, Node: 4}); err != nil {
			t.Fatal(err)
		}
		cluster.deliver()
		cluster.crash(2)
		if !slices.Equal(cluster.membership(2).Learners, []NodeID{4}) {
			t.Fatalf("after restart: %+v", cluster.membership(2))
		}
	})
}

// A node removed by a configuration entry that is appended but not yet
// committed may still stand for election. Otherwise, if the remaining voter
// lost that entry, it would need the removed node's vote and never get it
// (the removed node's log is longer): the cluster would stall for good.
// Found by the simulator.
func TestNodeRemovedByUncommittedConfigurationCanStillStand(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 2, nil)
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
	})
}
