package sim

import (
	"slices"

	"github.com/lockstepdb/lockstep/raft"
)

// Operations are what an operator or a runtime does to a cluster besides
// serving clients: snapshots and compaction, membership changes, leadership
// transfers. They run at random during the faulty phase.

func (c *cluster) scheduleOperation() {
	if !c.options.has(FaultSnapshot) && !c.options.has(FaultMember) && !c.options.has(FaultTransfer) {
		return
	}
	c.scheduler.schedule(uint64(1+c.random.IntN(15))*tickInterval, &event{kind: eventOperation})
}

func (c *cluster) runOperation() {
	if !c.faulty {
		return
	}
	defer c.scheduleOperation()
	var choices []Fault
	for _, kind := range []Fault{FaultSnapshot, FaultMember, FaultTransfer} {
		if c.options.has(kind) {
			choices = append(choices, kind)
		}
	}
	switch choices[c.random.IntN(len(choices))] {
	case FaultSnapshot:
		c.takeSnapshot(c.nodes[c.random.IntN(len(c.nodes))])
	case FaultMember:
		if leader := c.idleLeader(); leader != nil {
			c.changeMembership(leader)
		}
	case FaultTransfer:
		if leader := c.idleLeader(); leader != nil {
			voters := leader.core.Membership().Voters
			target := voters[c.random.IntN(len(voters))]
			err := leader.core.TransferLeadership(target)
			c.tracef("node %d: transfer leadership to %d: %v", leader.id, target, err)
			c.maybeTakeReady(leader)
		}
	}
}

// idleLeader returns an up leader that is not in the middle of a write.
func (c *cluster) idleLeader() *node {
	for _, n := range c.nodes {
		if n.up && n.pending == nil && n.summary.Role == raft.RoleLeader {
			return n
		}
	}
	return nil
}

// takeSnapshot captures a node's state machine at its applied index and
// compacts its log there, as a runtime's snapshot policy would.
func (c *cluster) takeSnapshot(n *node) {
	if !n.up || n.pending != nil || n.applied == 0 {
		return
	}
	metadata, err := n.core.SnapshotMetadata(n.applied)
	if err != nil {
		return // already compacted there
	}
	data := encodeState(n.kv)
	c.checker.recordState(n, n.applied, data)
	if err := n.storage.Compact(raft.Snapshot{Metadata: metadata, Data: data}); err != nil {
		return
	}
	c.tracef("node %d: snapshot at %d/%d, log compacted", n.id, metadata.Index, metadata.Term)
}

// changeMembership proposes a random change on the leader: add a learner,
// promote one, remove a node, or replace a voter by a learner.
func (c *cluster) changeMembership(leader *node) {
	m := leader.core.Membership()
	var outsiders []raft.NodeID
	for _, id := range c.ids {
		if !slices.Contains(m.Voters, id) && !slices.Contains(m.Learners, id) && !slices.Contains(m.OutgoingVoters, id) {
			outsiders = append(outsiders, id)
		}
	}
	pick := func(ids []raft.NodeID) raft.NodeID { return ids[c.random.IntN(len(ids))] }
	var changes []raft.MembershipChange
	switch c.random.IntN(4) {
	case 0:
		if len(outsiders) > 0 {
			changes = append(changes, raft.MembershipChange{Kind: raft.AddLearner, Node: pick(outsiders)})
		}
	case 1:
		if len(m.Learners) > 0 {
			changes = append(changes, raft.MembershipChange{Kind: raft.AddVoter, Node: pick(m.Learners)})
		}
	case 2:
		// Keep at least as many voters as the run started with, less one:
		// the liveness phase needs a quorum of the final configuration.
		if len(m.Voters)+len(m.Learners) > 1 {
			changes = append(changes, raft.MembershipChange{Kind: raft.RemoveNode, Node: pick(append(slices.Clone(m.Voters), m.Learners...))})
		}
	case 3:
		if len(m.Learners) > 0 {
			changes = append(changes,
				raft.MembershipChange{Kind: raft.AddVoter, Node: pick(m.Learners)},
				raft.MembershipChange{Kind: raft.RemoveNode, Node: pick(m.Voters)})
		}
	}
	if len(changes) == 0 {
		return
	}
	index, _, err := leader.core.ProposeMembershipChange(changes...)
	c.tracef("node %d: membership change %v -> index %d: %v", leader.id, changes, index, err)
	c.maybeTakeReady(leader)
}

// members returns the nodes of the current leader's configuration (the
// initial voters if no node leads).
func (c *cluster) members() []*node {
	var leader *node
	for _, n := range c.nodes {
		if n.up && n.summary.Role == raft.RoleLeader && (leader == nil || n.summary.Term > leader.summary.Term) {
			leader = n
		}
	}
	ids := c.initialVoters
	if leader != nil {
		m := leader.core.Membership()
		ids = slices.Concat(m.Voters, m.OutgoingVoters, m.Learners)
	}
	var members []*node
	for _, n := range c.nodes {
		if slices.Contains(ids, n.id) {
			members = append(members, n)
		}
	}
	return members
}
