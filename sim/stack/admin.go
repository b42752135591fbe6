package stack

import (
	"context"
	"math/rand/v2"
	"slices"

	"github.com/lockstepdb/lockstep/raft"
)

// admin performs the operator's operations — leadership transfers and
// membership changes — one at a time, on its own goroutine, so that the
// schedule's faults keep coming while one is under way.
type admin struct {
	cluster *cluster
	random  *rand.Rand
	// joining is the node being added (started with Join), until it is a
	// voter; 0 when none is.
	joining raft.NodeID
}

// adminTicks bounds each admin operation.
const adminTicks = 8 * electionTicks

// transfer hands leadership from the leader to a random other voter.
func (a *admin) transfer() {
	c := a.cluster
	ctx, cancel := c.timeout(adminTicks)
	defer cancel()
	leader, status, ok := c.leader(ctx)
	if !ok {
		return
	}
	var targets []raft.NodeID
	for _, id := range status.Membership.Voters {
		if id != leader.id {
			targets = append(targets, id)
		}
	}
	if len(targets) == 0 {
		return
	}
	target := targets[a.random.IntN(len(targets))]
	err := leader.node.TransferLeadership(ctx, target)
	c.counts.transfers.Add(1)
	c.recorder.tracef("transfer leadership %d -> %d: %v", leader.id, target, errorText(err))
}

// changeMembership takes the next step of a cycle that keeps the cluster
// at options.Nodes voters: remove a random voter (perhaps the leader),
// then add a new node as a learner, wait for it to catch up (by snapshot
// if the log was compacted), promote it. A removed node is stopped for
// good. A new node always has a new ID: reusing a removed node's ID with an
// empty disk could let it vote twice in a term.
func (a *admin) changeMembership() {
	c := a.cluster
	ctx, cancel := c.timeout(adminTicks)
	defer cancel()
	leader, status, ok := c.leader(ctx)
	if !ok || len(status.Membership.OutgoingVoters) > 0 {
		return
	}
	membership := status.Membership
	a.retireStrays(membership)
	switch {
	case a.joining != 0 && slices.Contains(membership.Voters, a.joining):
		a.joining = 0
	case a.joining != 0 && slices.Contains(membership.Learners, a.joining):
		a.promote(ctx, leader)
	case a.joining != 0:
		if a.addLearner(ctx, leader, a.joining) {
			a.promote(ctx, leader)
		}
	case len(membership.Voters) >= c.options.Nodes:
		victim := membership.Voters[a.random.IntN(len(membership.Voters))]
		err := leader.node.Remove(ctx, victim)
		c.recorder.tracef("remove %d (asked node %d): %v", victim, leader.id, errorText(err))
		if err == nil {
			c.counts.removed.Add(1)
			if m := c.member(victim); m != nil {
				c.retire(m)
			}
		}
	default:
		joining := c.addMember()
		a.joining = joining.id
		c.counts.added.Add(1)
		if a.addLearner(ctx, leader, joining.id) {
			a.promote(ctx, leader)
		}
	}
}

// addLearner asks the leader to add id as a learner.
func (a *admin) addLearner(ctx context.Context, leader running, id raft.NodeID) bool {
	err := leader.node.AddLearner(ctx, id, a.cluster.address(id))
	a.cluster.recorder.tracef("add learner %d (asked node %d): %v", id, leader.id, errorText(err))
	return err == nil
}

// promote makes the joining learner a voter once it has caught up.
func (a *admin) promote(ctx context.Context, leader running) {
	if !a.caughtUp(ctx, leader, a.joining) {
		return
	}
	err := leader.node.Promote(ctx, a.joining)
	a.cluster.recorder.tracef("promote %d (asked node %d): %v", a.joining, leader.id, errorText(err))
	if err == nil {
		a.joining = 0
		a.cluster.counts.promoted.Add(1)
	}
}

// caughtUp waits, tick by tick, until the leader has replicated its whole
// log to id.
func (a *admin) caughtUp(ctx context.Context, leader running, id raft.NodeID) bool {
	for {
		status, err := leader.node.Status(ctx)
		if err != nil || status.Role != raft.RoleLeader {
			return false
		}
		if follower, ok := status.Followers[id]; ok && follower.Match >= status.Commit {
			return true
		}
		if !sleepTicks(ctx, a.cluster, 1) {
			return false
		}
	}
}

// retireStrays stops nodes that are outside the membership although no
// removal was confirmed to them (a Remove that timed out but committed),
// except the node being added.
func (a *admin) retireStrays(membership raft.Membership) {
	c := a.cluster
	for _, m := range c.sortedMembers() {
		up, retired := c.state(m)
		if retired || !up || m.id == a.joining || inMembership(membership, m.id) {
			continue
		}
		c.recorder.tracef("node %d is no longer a member", m.id)
		c.retire(m)
	}
}

func inMembership(membership raft.Membership, id raft.NodeID) bool {
	return slices.Contains(membership.Voters, id) || slices.Contains(membership.OutgoingVoters, id) || slices.Contains(membership.Learners, id)
}

func errorText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
