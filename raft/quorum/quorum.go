// Package quorum holds the majority arithmetic of Raft: which index a set of
// voters has durably replicated, and whether an election is won, lost or
// still open. It knows nothing about messages or terms, so the rules can be
// tested exhaustively on their own.
//
// A configuration is either a single majority configuration or, during a
// joint-consensus membership change (Raft thesis §4.3), two of them: every
// decision then needs a majority of each.
package quorum

import (
	"slices"
)

// VoteResult is the outcome of counting votes.
type VoteResult uint8

const (
	// VotePending means neither a majority of grants nor of rejections is
	// known yet.
	VotePending VoteResult = iota
	// VoteLost means a majority rejected: the election cannot be won.
	VoteLost
	// VoteWon means a majority granted.
	VoteWon
)

func (r VoteResult) String() string {
	switch r {
	case VotePending:
		return "pending"
	case VoteLost:
		return "lost"
	case VoteWon:
		return "won"
	}
	return "VoteResult(?)"
}

// Majority is a set of voters, identified by any comparable ID (raft uses
// its NodeID); a decision needs more than half of them.
type Majority[ID comparable] []ID

// CommittedIndex returns the largest index that a majority of the voters
// hold, given each voter's acknowledged (durable) index. A voter missing from
// acknowledged counts as 0. An empty configuration returns the maximum
// uint64, so that it never holds back a joint configuration (a single-sided
// joint config behaves like its other side).
func (m Majority[ID]) CommittedIndex(acknowledged func(ID) uint64) uint64 {
	if len(m) == 0 {
		return ^uint64(0)
	}
	// Small clusters are the norm; a stack array avoids an allocation.
	var stack [7]uint64
	indexes := stack[:0]
	if len(m) > len(stack) {
		indexes = make([]uint64, 0, len(m))
	}
	for _, id := range m {
		indexes = append(indexes, acknowledged(id))
	}
	slices.Sort(indexes)
	// Sorted ascending, the element at position len-quorum is held by at
	// least quorum voters (itself and every larger one).
	return indexes[len(indexes)-(len(indexes)/2+1)]
}

// Vote counts votes: granted[id] true is a grant, false a rejection, absent
// is not yet known. An empty configuration wins, for the same reason as in
// CommittedIndex.
func (m Majority[ID]) Vote(granted map[ID]bool) VoteResult {
	if len(m) == 0 {
		return VoteWon
	}
	grants, rejections := 0, 0
	for _, id := range m {
		vote, known := granted[id]
		switch {
		case !known:
		case vote:
			grants++
		default:
			rejections++
		}
	}
	need := len(m)/2 + 1
	if grants >= need {
		return VoteWon
	}
	if rejections >= need || len(m)-rejections < need {
		return VoteLost
	}
	return VotePending
}

// Active reports whether a majority of the voters is active.
func (m Majority[ID]) Active(active func(ID) bool) bool {
	if len(m) == 0 {
		return true
	}
	count := 0
	for _, id := range m {
		if active(id) {
			count++
		}
	}
	return count >= len(m)/2+1
}

// Joint is a joint-consensus configuration: Incoming is the new voter set,
// Outgoing the old one (empty when no change is in progress).
type Joint[ID comparable] struct {
	Incoming Majority[ID]
	Outgoing Majority[ID]
}

// CommittedIndex returns the largest index held by a majority of both sides.
func (j Joint[ID]) CommittedIndex(acknowledged func(ID) uint64) uint64 {
	return min(j.Incoming.CommittedIndex(acknowledged), j.Outgoing.CommittedIndex(acknowledged))
}

// Vote wins only if both sides win, and is lost as soon as either side is.
func (j Joint[ID]) Vote(granted map[ID]bool) VoteResult {
	incoming, outgoing := j.Incoming.Vote(granted), j.Outgoing.Vote(granted)
	if incoming == outgoing {
		return incoming
	}
	if incoming == VoteLost || outgoing == VoteLost {
		return VoteLost
	}
	return VotePending
}

// Active reports whether a majority of both sides is active.
func (j Joint[ID]) Active(active func(ID) bool) bool {
	return j.Incoming.Active(active) && j.Outgoing.Active(active)
}
