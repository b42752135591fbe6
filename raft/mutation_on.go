//go:build mutation

package raft

import (
	"fmt"
	"sync/atomic"
)

// activeMutation is the mutation switched on for the whole process.
var activeMutation atomic.Uint32

func mutated(m mutation) bool { return mutation(activeMutation.Load()) == m }

// MutationInfo describes one deliberate bug of the mutation harness.
type MutationInfo struct {
	// Name is the mutation's name, as SetMutation takes it.
	Name string
	// Description says which rule of Raft the mutation breaks.
	Description string
}

var mutationInfos = map[mutation]MutationInfo{
	mutationVoteIgnoresLog:          {"vote-ignores-log", "a voter grants its vote without the election restriction (Raft §5.4.1)"},
	mutationVoteTwicePerTerm:        {"vote-twice-per-term", "a voter grants a vote after voting for another candidate in the same term (Raft §5.2)"},
	mutationVoteBeforePersist:       {"vote-before-persist", "a vote is sent before it is durable (Raft Figure 2, persistent state)"},
	mutationCountPreVotesAsVotes:    {"count-prevotes-as-votes", "a candidate counts late pre-vote grants as real votes (thesis §9.6)"},
	mutationPreVoteAdoptsTerm:       {"prevote-adopts-term", "a node adopts the term of a pre-vote request (thesis §9.6)"},
	mutationKeepLeadingOnHigherTerm: {"keep-leading-on-higher-term", "a leader that sees a higher term adopts it and goes on leading (Raft §5.1)"},
	mutationAcceptStaleTerm:         {"accept-stale-term", "messages from lower terms are acted upon (Raft §5.1)"},
	mutationCommitOldTerm:           {"commit-old-term", "a leader commits by counting replicas of earlier terms' entries (Raft §5.4.2, Figure 8)"},
	mutationCommitWithHalf:          {"commit-with-half", "a leader commits once half the voters, not a majority, hold an entry (Raft §5.3)"},
	mutationLeaderCountsUnpersisted: {"leader-counts-unpersisted", "a leader counts itself for entries before they are durable (thesis §10.2.1)"},
	mutationAckBeforePersist:        {"ack-before-persist", "a follower acknowledges entries before they are durable (Raft Figure 2)"},
	mutationFollowerCommitUncapped:  {"follower-commit-uncapped", "a follower's commit index is capped at its last index, not the last entry it verified (Raft Figure 2)"},
	mutationHeartbeatCommitUncapped: {"heartbeat-commit-uncapped", "heartbeats carry the leader's commit index, not capped at the follower's match"},
	mutationKeepConflictingEntries:  {"keep-conflicting-entries", "a follower keeps its entries that conflict with the leader's instead of truncating them (Raft §5.3)"},
	mutationTruncateWithoutConflict: {"truncate-without-conflict", "a follower truncates everything after an append, even entries that match (Raft Figure 2, rule 3)"},
	mutationApplyUncommitted:        {"apply-uncommitted", "entries are applied up to the last index instead of the commit index (Raft §5.3)"},
	mutationSnapshotInstallsStale:   {"snapshot-installs-stale", "a follower installs a snapshot older than its commit index over its log (Raft §7)"},
	mutationMembershipNotOnAppend:   {"membership-not-on-append", "a follower ignores configuration entries it appends; they take effect only when it restarts and replays its log (thesis §4.1)"},
	mutationIgnoreOutgoingVoters:    {"ignore-outgoing-voters", "a joint configuration counts only the incoming voters (thesis §4.3)"},
	mutationTransferToLagging:       {"transfer-to-lagging", "TimeoutNow goes to the transfer target before its log caught up (thesis §3.10)"},
	mutationReadWithoutQuorum:       {"read-without-quorum", "ReadIndex is answered without a quorum confirming leadership (thesis §6.4)"},
	mutationReadBeforeTermCommit:    {"read-before-term-commit", "ReadIndex does not wait for the leader's first entry of its term to commit (thesis §6.4)"},
	mutationLeaseOverlong:           {"lease-overlong", "the leader's read lease lasts two election timeouts, past its bound (thesis §6.4.1)"},
	mutationVoteDuringLease:         {"vote-during-lease", "followers grant votes while a leader's lease holds (thesis §4.2.3)"},
	mutationLeaseDuringTransfer:     {"lease-during-transfer", "a leader answers reads from its lease while it hands leadership over (thesis §3.10)"},
}

// Mutations lists every deliberate bug, in a fixed order. Present only in
// builds with -tags mutation.
func Mutations() []MutationInfo {
	var all []MutationInfo
	for m := mutationNone + 1; m < mutationCount; m++ {
		info, ok := mutationInfos[m]
		if !ok {
			panic(fmt.Sprintf("raft: mutation %d has no name", m))
		}
		all = append(all, info)
	}
	return all
}

// SetMutation switches one deliberate bug on for every core in the
// process, or every one off with the empty name. It returns an error for
// an unknown name. Present only in builds with -tags mutation.
func SetMutation(name string) error {
	if name == "" {
		activeMutation.Store(uint32(mutationNone))
		return nil
	}
	for m, info := range mutationInfos {
		if info.Name == name {
			activeMutation.Store(uint32(m))
			return nil
		}
	}
	return fmt.Errorf("raft: unknown mutation %q", name)
}
