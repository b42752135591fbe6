package raft

import "slices"

// mutation names one deliberate bug that the mutation harness (sim/mutate)
// can switch on to prove that the simulator finds it. Each is a classic
// Raft mistake. In a normal build mutated always reports false (see
// mutation_off.go), so the compiler drops every mutated branch: none of
// these bugs is present in a shipped binary. Only a build with
// -tags mutation can switch one on (mutation_on.go).
type mutation uint8

const (
	mutationNone mutation = iota
	// Elections.
	mutationVoteIgnoresLog          // grant votes without the election restriction (§5.4.1)
	mutationVoteTwicePerTerm        // grant a vote to any candidate, even after voting for another in the term
	mutationVoteBeforePersist       // send a vote before it is durable
	mutationCountPreVotesAsVotes    // a candidate counts late pre-vote grants as votes
	mutationPreVoteAdoptsTerm       // a node adopts the term of a pre-vote request
	mutationKeepLeadingOnHigherTerm // a leader adopts a higher term and goes on leading
	mutationAcceptStaleTerm         // act on messages from lower terms
	// Replication and commitment.
	mutationCommitOldTerm           // count replicas of earlier terms' entries (Figure 8)
	mutationCommitWithHalf          // commit once half of the voters (not a majority) hold an entry
	mutationLeaderCountsUnpersisted // a leader counts itself for entries not yet durable
	mutationAckBeforePersist        // a follower acknowledges entries before they are durable
	mutationFollowerCommitUncapped  // a follower's commit index is not capped at the verified prefix
	mutationHeartbeatCommitUncapped // heartbeats carry the leader's commit index, not the follower's match
	mutationKeepConflictingEntries  // a follower keeps conflicting entries instead of truncating them
	mutationTruncateWithoutConflict // a follower truncates its log after every append, even without a conflict
	mutationApplyUncommitted        // entries are applied up to the last index, not the commit index
	// Snapshots, membership, transfer.
	mutationSnapshotInstallsStale // a follower installs a snapshot older than its commit index
	mutationMembershipNotOnAppend // a follower ignores configuration entries it appends (they take effect only when it restarts)
	mutationIgnoreOutgoingVoters  // joint consensus counts only the incoming voters
	mutationTransferToLagging     // TimeoutNow goes to the transfer target before it caught up
	// Reads.
	mutationReadWithoutQuorum    // ReadIndex is answered without a quorum's confirmation
	mutationReadBeforeTermCommit // ReadIndex does not wait for the leader's first entry to commit
	mutationLeaseOverlong        // the lease outlasts the election timeout (no drift bound)
	mutationVoteDuringLease      // followers vote while a leader's lease holds
	mutationLeaseDuringTransfer  // a leader serves lease reads while handing over
	mutationCount                // the number of mutations plus one; not a mutation
)

// halfCommittedIndex is the commit rule of mutationCommitWithHalf: the
// largest index that half of the incoming voters (rounded down, at least
// one) hold, where Raft needs a majority.
func (c *Core) halfCommittedIndex() uint64 {
	matches := make([]uint64, 0, len(c.membership.Voters))
	for _, id := range c.membership.Voters {
		if replica := c.progress[id]; replica != nil {
			matches = append(matches, replica.match)
		} else {
			matches = append(matches, 0)
		}
	}
	if len(matches) == 0 {
		return 0
	}
	slices.Sort(matches)
	slices.Reverse(matches)
	needed := max(len(matches)/2, 1)
	return matches[needed-1]
}
