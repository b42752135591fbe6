package raft

import (
	"errors"
	"fmt"
)

// Propose appends a command to the leader's log and returns the index and
// term it will occupy: the command is committed if and only if the entry
// at that index has that term once the index is committed, so a caller can
// wait for exactly that outcome. On a node that is not the leader it
// returns a *NotLeaderError naming the known leader; an empty command is
// refused with ErrEmptyCommand (see EntryNormal). The entry reaches the
// followers with the next Ready, batched with every other proposal made
// before it. Call it serialised with the core's other methods (see Core),
// and not between Ready and Advance.
func (c *Core) Propose(command []byte) (index, term uint64, err error) {
	c.checkNoReadyOutstanding("Propose")
	if len(command) == 0 {
		return 0, 0, ErrEmptyCommand
	}
	if c.role != RoleLeader {
		return 0, 0, &NotLeaderError{Leader: c.leader, Term: c.term}
	}
	if c.transferTarget != None {
		return 0, 0, ErrTransferInProgress
	}
	size := uint64(len(command))
	limit := c.config.MaxUncommittedBytes
	if limit > 0 && c.uncommittedBytes > 0 && c.uncommittedBytes+size > limit {
		return 0, 0, ErrProposalDropped
	}
	c.uncommittedBytes += size
	index = c.log.lastIndex() + 1
	c.log.appendLeader([]Entry{{Index: index, Term: c.term, Type: EntryNormal, Data: command}})
	if mutated(mutationLeaderCountsUnpersisted) {
		c.progress[c.id].match = index
	}
	c.broadcastPending = true
	return index, c.term, nil
}

// becomeLeader takes office after winning an election in the current term.
func (c *Core) becomeLeader() {
	if c.role != RoleCandidate {
		panic(fmt.Sprintf("raft: node %v: only a candidate can become leader (role %s)", c.id, c.role))
	}
	c.role = RoleLeader
	c.leader = c.id
	c.votes = nil
	c.resetElectionTimer()
	last := c.log.lastIndex()
	c.progress = make(map[NodeID]*progress)
	for _, id := range c.members() {
		// Raft Figure 2: nextIndex starts just past the leader's log.
		c.progress[id] = newProgress(last+1, c.config.MaxInflightAppends, c.config.MaxInflightBytes)
	}
	// A leader that is not in its latest configuration (see promotable)
	// still tracks itself, to know what of its log is durable.
	self := newProgress(last+1, c.config.MaxInflightAppends, c.config.MaxInflightBytes)
	c.progress[c.id] = self
	self.match = c.log.durableLastIndex()
	c.leaseNotBefore = c.ticks
	self.next = last + 1
	self.state = stateReplicate
	// A leader cannot commit entries of earlier terms by counting
	// replicas (Raft §5.4.2), so it appends an empty entry of its own
	// term at once: committing it commits everything before it.
	c.log.appendLeader([]Entry{{Index: last + 1, Term: c.term, Type: EntryNormal}})
	c.broadcastPending = true
}

// stepLeader handles messages while leading.
func (c *Core) stepLeader(message Message) {
	follower := c.progress[message.From]
	if follower == nil {
		return // not a member
	}
	follower.recentActive = true
	switch message.Type {
	case MessageAppendResponse:
		c.handleAppendResponse(message, follower)
	case MessageHeartbeatResponse:
		follower.leaseTick = max(follower.leaseTick, message.Index)
		c.handleHeartbeatResponse(message, follower)
		if len(message.Context) > 0 {
			c.confirmRead(message.From, message.Context)
		}
	case MessageReadIndex:
		c.addRead(message.Context, message.From)
	}
}

func (c *Core) handleAppendResponse(message Message, follower *progress) {
	if message.Reject {
		// The follower's log does not hold our entry at message.Index.
		// Map its hint into our log: the largest index at or below the
		// hint whose term is at most the hinted term is the first place
		// both logs may agree, so every index above it is skipped in one
		// round trip.
		nextGuess := message.HintIndex + 1
		if message.HintTerm > 0 {
			matchIndex, _ := c.log.findConflictByTerm(message.HintIndex, message.HintTerm)
			nextGuess = matchIndex + 1
		}
		if follower.rejected(message.Index, nextGuess) {
			c.sendAppends(message.From, follower, true)
		}
		return
	}
	if message.Index > c.log.lastIndex() {
		return // acknowledges entries we never had: not from our term's log
	}
	wasProbing := follower.state == stateProbe
	if follower.acknowledge(message.Index) {
		if wasProbing || (follower.state == stateSnapshot && follower.match >= follower.pendingSnapshot) {
			// The logs now match up to Match: stream the rest.
			follower.becomeReplicate()
		}
		c.maybeCommit()
		if c.role != RoleLeader {
			return // removed by the change that just committed
		}
	}
	c.maybeFinishTransfer(message.From, follower)
	c.sendAppends(message.From, follower, false)
}

func (c *Core) handleHeartbeatResponse(message Message, follower *progress) {
	if follower.state == stateSnapshot {
		// Counted in ticks, not heartbeat responses: every read barrier
		// draws a round of responses, so under read load a count of
		// responses runs out within milliseconds, long before a snapshot
		// can have arrived, and the snapshot would be sent again and
		// again while the first transfer is still under way.
		if c.ticks-follower.snapshotSentTick < uint64(c.config.ElectionTicks) {
			return
		}
		// No answer for an election timeout while the follower answers
		// heartbeats: the snapshot (or its answer) was lost. Start over;
		// the probe finds the entries compacted and sends it again.
		follower.becomeProbe()
	}
	follower.probeSent = false
	if follower.state == stateReplicate && (follower.inflights.full() || c.smallAppendWindowFull(follower)) {
		// The follower is alive but nothing came back for a whole window
		// (or the window for small appends, which holds back the empty
		// probe below): an append or its answer may have been lost. Free
		// a slot so the pipeline moves; the probe finds where the
		// follower is, and an acknowledgement still on its way frees the
		// rest as usual.
		follower.inflights.freeFirst()
	}
	if follower.match < c.log.lastIndex() {
		// An empty append at next-1 is rejected if the follower lost
		// anything in between, which drops us back to probing there.
		c.sendAppends(message.From, follower, true)
	}
}

// maybeCommit advances the commit index to the largest index a quorum holds
// durably, but only if that entry is of the current term (Raft §5.4.2,
// Figure 8): counting replicas of an older term's entry is not enough, as
// a leader of another term may still overwrite it.
func (c *Core) maybeCommit() bool {
	index := c.voters().CommittedIndex(func(id NodeID) uint64 {
		if replica := c.progress[id]; replica != nil {
			return replica.match
		}
		return 0
	})
	if mutated(mutationCommitWithHalf) {
		index = c.halfCommittedIndex()
	}
	if index <= c.log.committed || (c.log.termOrZero(index) != c.term && !mutated(mutationCommitOldTerm)) {
		return false
	}
	c.log.commitTo(index)
	// Followers learn the new commit index with the next Ready's appends.
	c.commitBroadcastPending = true
	c.broadcastPending = true
	c.releaseReadsAwaitingCommit()
	c.afterCommit()
	return true
}

// sendAppends sends the follower what it lacks, as many appends as flow
// control allows. With sendEmpty it sends one append even if there are no
// entries to carry (to probe, or to announce the commit index).
func (c *Core) sendAppends(to NodeID, follower *progress, sendEmpty bool) {
	for c.sendAppend(to, follower, sendEmpty) {
		sendEmpty = false
		if follower.state != stateReplicate {
			return
		}
	}
}

// sendAppend sends one append to the follower and reports whether it did.
func (c *Core) sendAppend(to NodeID, follower *progress, sendEmpty bool) bool {
	if follower.isPaused() || c.holdsBackSmallAppend(follower) {
		return false
	}
	last := c.log.lastIndex()
	previousIndex := follower.next - 1
	previousTerm, err := c.log.term(previousIndex)
	if errors.Is(err, ErrCompacted) {
		return c.sendSnapshotUnlessWaiting(to, follower)
	}
	if err != nil {
		panic(fmt.Sprintf("raft: leader %v: term of entry %d for follower %v: %v", c.id, previousIndex, to, err))
	}
	var entries []Entry
	if follower.next <= last {
		entries, err = c.log.slice(follower.next, last+1, c.config.MaxAppendBytes)
		if errors.Is(err, ErrCompacted) {
			return c.sendSnapshotUnlessWaiting(to, follower)
		}
		if err != nil {
			panic(fmt.Sprintf("raft: leader %v: entries from %d for follower %v: %v", c.id, follower.next, to, err))
		}
	}
	if len(entries) == 0 && !sendEmpty {
		return false
	}
	var bytes uint64
	for _, entry := range entries {
		bytes += entry.Size()
	}
	c.send(Message{Type: MessageAppend, To: to, LogIndex: previousIndex, LogTerm: previousTerm, Entries: entries, Commit: c.log.committed, Transfer: c.transferTarget != None})
	follower.sentEntries(len(entries), previousIndex+uint64(len(entries)), bytes)
	return true
}

// holdsBackSmallAppend reports whether the follower's next append waits
// (see Config.MaxInflightSmallAppends): its window for small appends is
// full, and the entries it lacks come to less than a small append's
// limit. It sizes only the entries appended since it last counted.
func (c *Core) holdsBackSmallAppend(follower *progress) bool {
	if !c.smallAppendWindowFull(follower) {
		return false
	}
	limit := c.config.MaxAppendBytes / smallAppendFraction
	last := c.log.lastIndex()
	held := &follower.held
	if held.next != follower.next {
		// An append went since it last counted (or none was counted):
		// start again from what the follower lacks now.
		*held = heldEntries{next: follower.next, through: follower.next - 1}
	}
	if held.bytes < limit && held.through < last {
		bytes, err := c.log.size(held.through+1, last+1)
		if err != nil {
			return false // compacted: sendAppend sends a snapshot, or waits
		}
		held.through, held.bytes = last, held.bytes+bytes
	}
	return held.bytes < limit
}

// smallAppendWindowFull reports whether the follower has
// Config.MaxInflightSmallAppends appends in flight in pipeline.
func (c *Core) smallAppendWindowFull(follower *progress) bool {
	return follower.state == stateReplicate && follower.inflights.count >= c.config.MaxInflightSmallAppends
}

// sendSnapshotUnlessWaiting sends the follower a snapshot, since the
// entries it lacks are compacted, unless appends are still in flight to
// it (a window of them): their answers, or a heartbeat's, tell first
// whether it is there to receive one.
func (c *Core) sendSnapshotUnlessWaiting(to NodeID, follower *progress) bool {
	if c.smallAppendWindowFull(follower) {
		return false
	}
	return c.sendSnapshot(to, follower)
}

// smallAppendFraction: an append under MaxAppendBytes/smallAppendFraction
// bytes of entries is small (Config.MaxInflightSmallAppends).
const smallAppendFraction = 16

// flushBroadcast sends the entries proposed since the last Ready, and the
// new commit index, to every follower.
func (c *Core) flushBroadcast() {
	if !c.broadcastPending || c.role != RoleLeader {
		return
	}
	for _, id := range c.members() {
		if id != c.id {
			c.sendAppends(id, c.progress[id], c.commitBroadcastPending)
		}
	}
	c.broadcastPending = false
	c.commitBroadcastPending = false
}

// broadcastHeartbeat asserts leadership to every follower. The commit index
// it carries is capped at what the follower is known to hold, since a
// heartbeat does not carry the log consistency check.
//
// Heartbeats also carry the context of the newest read awaiting
// confirmation, so that a read whose own heartbeats were lost is confirmed
// by the next round.
func (c *Core) broadcastHeartbeat() {
	var context []byte
	if pending := len(c.readRequests); pending > 0 {
		context = c.readRequests[pending-1].context
	}
	for _, id := range c.members() {
		if id == c.id {
			continue
		}
		commit := min(c.progress[id].match, c.log.committed)
		if mutated(mutationHeartbeatCommitUncapped) {
			commit = c.log.committed
		}
		c.send(Message{Type: MessageHeartbeat, To: id, Commit: commit, Context: context, Index: c.ticks, Transfer: c.transferTarget != None})
	}
}
