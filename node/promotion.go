package node

import (
	"context"
	"slices"

	"github.com/lockstepdb/lockstep/raft"
)

// AddVoter adds a node that is to vote, listening on address, and returns
// once it is a learner here, which must be the leader. The node joins as a
// learner (start it with Config.Join), and whichever node leads makes it a
// voter as soon as its log has caught up, so that a member with an empty
// log never counts toward a quorum. The intent is replicated: it survives
// leader changes and restarts. Status shows the node in Membership.Learners
// until then.
func (n *Node) AddVoter(ctx context.Context, id raft.NodeID, address string) error {
	if err := n.UpdateAddress(ctx, id, address); err != nil {
		return err
	}
	if _, err := n.proposeEntry(ctx, func() (uint64, uint64, error) { return n.core.Propose(encodePromotion(id)) }); err != nil {
		return err
	}
	return n.changeMembership(ctx, raft.MembershipChange{Kind: raft.AddLearner, Node: id})
}

// promoteCaughtUpLearners, on the leader, proposes the promotion of each
// pending learner whose log holds every committed entry. Called from the
// loop on every tick; a refused proposal (another change in progress) is
// simply tried again on a later tick.
func (n *Node) promoteCaughtUpLearners() {
	if len(n.promotions) == 0 {
		return
	}
	status := n.core.Status()
	if status.Role != raft.RoleLeader {
		return
	}
	membership := n.core.Membership()
	for id := range n.promotions {
		progress, ok := status.Followers[id]
		if !ok || !slices.Contains(membership.Learners, id) || progress.Match < status.Commit {
			continue
		}
		if _, _, err := n.core.ProposeMembershipChange(raft.MembershipChange{Kind: raft.AddVoter, Node: id}); err != nil {
			n.log.Debug("promotion of a caught-up learner deferred", "learner", id.String(), "error", err)
			continue
		}
		n.log.Info("promoting a caught-up learner", "learner", id.String())
		return // one membership change at a time
	}
}

// forgetSettledPromotions drops pending promotions of nodes that are now
// voters. Called from the loop when a membership entry is applied. (A
// learner removed before its promotion stays listed, harmlessly: only a
// learner is ever promoted, and IDs are not reused.)
func (n *Node) forgetSettledPromotions() {
	membership := n.core.Membership()
	for id := range n.promotions {
		if slices.Contains(membership.Voters, id) {
			delete(n.promotions, id)
		}
	}
}
