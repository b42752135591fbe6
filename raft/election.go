package raft

import (
	"slices"

	"github.com/lockstepdb/lockstep/raft/quorum"
)

// Tick advances the core's logical clock by one tick. The runtime calls it
// at a fixed interval (the simulator, when its clock says so). Call it
// serialised with the core's other methods (see Core), and not between
// Ready and Advance.
func (c *Core) Tick() {
	c.checkNoReadyOutstanding("Tick")
	c.ticks++
	if c.role == RoleLeader {
		c.tickLeader()
		return
	}
	c.electionElapsed++
	if c.electionElapsed >= c.config.ElectionTicks {
		c.restartLease = false
	}
	if c.promotable() && c.electionElapsed >= c.randomizedElectionTimeout {
		// Election timeout: no leader heard from (Raft §5.2).
		c.startElection()
	}
}

// inLeaderLease reports whether this node heard from a leader less than an
// election timeout ago, with CheckQuorum on. Such a node refuses to vote:
// the leader it follows may still hold a quorum (thesis §4.2.3).
func (c *Core) inLeaderLease() bool {
	if mutated(mutationVoteDuringLease) {
		return false
	}
	if c.restartLease {
		return true
	}
	return !c.config.DisableCheckQuorum && c.leader != None && c.electionElapsed < c.config.ElectionTicks
}

// startElection begins a pre-vote round, or a real election if PreVote is
// off.
func (c *Core) startElection() {
	if c.config.DisablePreVote {
		c.campaign(false)
	} else {
		c.preCampaign()
	}
}

// preCampaign asks the voters whether they would vote for us in the next
// term, without changing our term (thesis §9.6). A node that cannot reach a
// majority, or whose log is behind, keeps its term, and so cannot disrupt
// the cluster when it returns.
func (c *Core) preCampaign() {
	c.role = RolePreCandidate
	c.leader = None
	c.votes = map[NodeID]bool{}
	c.resetElectionTimer()
	c.requestVotes(MessagePreVote, c.term+1, false)
}

// campaign starts an election in a new term, voting for ourselves (Raft
// §5.2). The vote requests leave only once the new term and our vote are
// durable (they are queued in SendAfterPersist).
//
// transfer marks a campaign started by TimeoutNow: its vote requests are
// answered even by voters within a leader's lease.
func (c *Core) campaign(transfer bool) {
	c.becomeFollower(c.term+1, None)
	c.role = RoleCandidate
	c.vote = c.id
	c.votes = map[NodeID]bool{}
	c.requestVotes(MessageVote, c.term, transfer)
}

func (c *Core) requestVotes(kind MessageType, term uint64, transfer bool) {
	lastIndex, lastTerm := c.log.lastIndex(), c.log.lastTerm()
	if kind == MessagePreVote {
		// A pre-vote binds nothing, so it counts at once. A real vote for
		// ourselves counts only once it is durable (countOwnVote): a node
		// that won alone and crashed before persisting its vote could
		// otherwise vote again in the same term after restarting.
		c.votes[c.id] = true
		if c.tallyVotes() {
			return
		}
	}
	for _, id := range c.members() {
		if id == c.id || !c.isVoter(id) {
			continue
		}
		c.send(Message{Type: kind, To: id, Term: term, LogIndex: lastIndex, LogTerm: lastTerm, Transfer: transfer})
	}
}

// tallyVotes acts on the votes received so far and reports whether the
// campaign ended.
func (c *Core) tallyVotes() bool {
	switch c.voters().Vote(c.votes) {
	case quorum.VoteWon:
		if c.role == RolePreCandidate {
			// The pre-vote round is over; the real election begins.
			c.campaign(false)
			return true
		}
		c.becomeLeader()
		return true
	case quorum.VoteLost:
		// Back to follower in the same term; keep the vote we cast.
		c.becomeFollower(c.term, None)
		return true
	}
	return false
}

// handleVoteRequest answers RequestVote or PreVote. m.Term is at least our
// term here (Step answered lower terms and adopted higher ones, except for
// pre-votes).
func (c *Core) handleVoteRequest(m Message) {
	responseType := MessageVoteResponse
	if m.Type == MessagePreVote {
		responseType = MessagePreVoteResponse
	}
	// We may vote if we already voted for this candidate in this term (a
	// retransmission), or have not voted and know no leader in this term;
	// a pre-vote for a future term is hypothetical and binds nothing.
	canVote := c.vote == m.From ||
		(c.vote == None && c.leader == None) ||
		(m.Type == MessagePreVote && m.Term > c.term) ||
		(mutated(mutationVoteTwicePerTerm) && m.Type == MessageVote && c.leader == None)
	// The election restriction (Raft §5.4.1): only for a candidate whose
	// log is at least as up to date as ours, so that every committed entry
	// is in the winner's log (Leader Completeness).
	if canVote && (c.log.isUpToDate(m.LogIndex, m.LogTerm) || mutated(mutationVoteIgnoresLog)) {
		// A grant carries the requested term so that a pre-candidate
		// counts it even though neither of us holds that term yet.
		c.send(Message{Type: responseType, To: m.From, Term: m.Term})
		if m.Type == MessageVote {
			// One vote per term, persisted before the response leaves
			// (it is queued in SendAfterPersist).
			c.vote = m.From
			c.electionElapsed = 0
		}
		return
	}
	c.send(Message{Type: responseType, To: m.From, Reject: true})
}

// stepCandidate handles messages while campaigning.
func (c *Core) stepCandidate(m Message) {
	switch m.Type {
	case MessageAppend, MessageHeartbeat, MessageSnapshot:
		// A leader won this term (Raft §5.2): follow it.
		c.becomeFollower(m.Term, m.From)
		c.stepFollower(m)
	case MessageVoteResponse, MessagePreVoteResponse:
		expected := MessageVoteResponse
		if c.role == RolePreCandidate {
			expected = MessagePreVoteResponse
		}
		if m.Type != expected && !(mutated(mutationCountPreVotesAsVotes) && c.role == RoleCandidate) {
			return // a late answer to an earlier campaign
		}
		if _, counted := c.votes[m.From]; !counted {
			c.votes[m.From] = !m.Reject
		}
		c.tallyVotes()
	}
}

// tickLeader sends heartbeats and, with CheckQuorum, steps down when the
// leader has not heard from a quorum for an election timeout.
func (c *Core) tickLeader() {
	c.heartbeatElapsed++
	c.electionElapsed++
	if c.transferTarget != None {
		c.transferElapsed++
		if c.transferElapsed >= c.config.ElectionTicks {
			// The target did not take over in time: resume leading.
			c.transferTarget = None
			c.leaseNotBefore = c.ticks
		}
	}
	if c.electionElapsed >= c.config.ElectionTicks {
		c.electionElapsed = 0
		if !c.config.DisableCheckQuorum && !c.quorumRecentlyActive() {
			// A leader cut off from a majority steps down, so that clients
			// stop waiting on it and find the new leader (thesis §6.2).
			c.becomeFollower(c.term, None)
			return
		}
	}
	if c.heartbeatElapsed >= c.config.HeartbeatTicks {
		c.heartbeatElapsed = 0
		c.broadcastHeartbeat()
	}
}

// quorumRecentlyActive reports whether a quorum sent us anything since the
// last check, and starts a new check.
func (c *Core) quorumRecentlyActive() bool {
	active := c.voters().Active(func(id NodeID) bool {
		follower := c.progress[id]
		return id == c.id || (follower != nil && follower.recentActive)
	})
	for id, follower := range c.progress {
		if id != c.id {
			follower.recentActive = false
		}
	}
	return active
}

// promotable reports whether this node may stand for election: it is a
// voter in its latest configuration, or in the latest committed one. The
// second case matters when a configuration that removes this node is
// appended here but not committed: if the nodes that remain lost that entry
// (a leader sends entries before its own write is durable), they need this
// node's vote yet cannot get it, their logs being shorter; this node must
// then lead long enough to commit the entry, after which it steps down.
func (c *Core) promotable() bool {
	if c.isVoter(c.id) {
		return true
	}
	committed := c.membershipAt(c.log.committed)
	return slices.Contains(committed.Voters, c.id) || slices.Contains(committed.OutgoingVoters, c.id)
}

// countOwnVote counts a candidate's vote for itself once Advance reports it
// durable. In a single-voter configuration this is the moment it wins.
func (c *Core) countOwnVote() {
	if c.role != RoleCandidate || c.votes[c.id] {
		return
	}
	if c.durableHardState.Term == c.term && c.durableHardState.Vote == c.id {
		c.votes[c.id] = true
		c.tallyVotes()
	}
}
