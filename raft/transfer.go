package raft

import (
	"errors"
	"fmt"
)

// ErrTransferInProgress is returned by Propose and ProposeMembershipChange
// while the leader hands leadership over: it stops accepting commands so
// that the target can catch up and take office (thesis §3.10).
var ErrTransferInProgress = errors.New("raft: leadership transfer in progress")

// TransferLeadership asks the leader to hand leadership to target, a voter.
// The leader stops accepting proposals, brings target's log up to date, then
// sends it TimeoutNow, upon which target starts an election at once (without
// a pre-vote, and voters answer it even within a leader's lease). If target
// has not taken over within an election timeout, the transfer is abandoned
// and the leader accepts proposals again. Call it serialised with the core's
// other methods (see Core), not between Ready and Advance.
func (c *Core) TransferLeadership(target NodeID) error {
	c.checkNoReadyOutstanding("TransferLeadership")
	if c.role != RoleLeader {
		return &NotLeaderError{Leader: c.leader, Term: c.term}
	}
	if target == c.id {
		return nil // already there
	}
	if !c.isVoter(target) {
		return fmt.Errorf("raft: transfer leadership to node %d: not a voter", target)
	}
	c.transferTarget = target
	c.transferElapsed = 0
	c.leaseNotBefore = c.ticks
	// Announce the transfer, so that followers in our lease will answer
	// the target's vote request (see Config.LeaseReads).
	c.broadcastHeartbeat()
	follower := c.progress[target]
	if follower.match == c.log.lastIndex() || mutated(mutationTransferToLagging) {
		c.send(Message{Type: MessageTimeoutNow, To: target, Index: c.ticks})
	} else {
		c.sendAppends(target, follower, false)
	}
	return nil
}

// handOver sends TimeoutNow to the most caught-up voter other than this
// node, if one holds the whole log: used by a leader that was removed.
func (c *Core) handOver() {
	best, bestMatch := None, uint64(0)
	for _, id := range c.members() {
		if id == c.id || !c.isVoter(id) || c.progress[id] == nil {
			continue
		}
		if match := c.progress[id].match; match > bestMatch {
			best, bestMatch = id, match
		}
	}
	if best != None && bestMatch == c.log.lastIndex() {
		c.transferTarget = best
		c.broadcastHeartbeat() // announce it, as TransferLeadership does
		c.send(Message{Type: MessageTimeoutNow, To: best, Index: c.ticks})
	}
}

// maybeFinishTransfer sends TimeoutNow once the target has caught up.
func (c *Core) maybeFinishTransfer(from NodeID, follower *progress) {
	if c.transferTarget == from && follower.match == c.log.lastIndex() {
		c.send(Message{Type: MessageTimeoutNow, To: from, Index: c.ticks})
	}
}

// answersTransferVote reports whether a vote request sent by a transfer
// target (upon TimeoutNow) is answered although this node is within a
// leader's lease. The leader answers its own target: it stopped serving
// lease reads when the transfer began. Without LeaseReads the lease only
// keeps a cut-off node from disrupting the cluster, so a follower trusts
// the candidate's word, as etcd does: the leader's announcement travels on
// another link and may arrive after the request. With LeaseReads a
// follower waits for that announcement (Message.Transfer from its leader),
// so that a stale TimeoutNow cannot break a lease; in clusters of more than
// three the transfer may then be abandoned if the request outruns it.
func (c *Core) answersTransferVote(m Message) bool {
	switch {
	case !m.Transfer:
		return false
	case c.role == RoleLeader:
		return c.transferTarget == m.From
	case !c.config.LeaseReads:
		return true
	default:
		return c.leaderTransferring
	}
}
