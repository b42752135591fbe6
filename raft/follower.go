package raft

// stepFollower handles messages while following.
func (c *Core) stepFollower(m Message) {
	switch m.Type {
	case MessageAppend:
		c.leader = m.From
		c.electionElapsed = 0
		c.leaderTransferring = m.Transfer
		c.handleAppend(m)
	case MessageHeartbeat:
		c.leader = m.From
		c.electionElapsed = 0
		c.leaderTransferring = m.Transfer
		c.handleHeartbeat(m)
	case MessageSnapshot:
		c.leader = m.From
		c.electionElapsed = 0
		c.handleSnapshot(m)
	case MessageReadIndexResponse:
		c.readStates = append(c.readStates, ReadState{Index: m.Index, Context: m.Context})
	case MessageTimeoutNow:
		// The leader hands over to us (thesis §3.10): stand at once, and
		// skip the pre-vote, which the others would refuse while they
		// still follow the leader.
		if c.promotable() && c.timeoutNowIsCurrent(m) {
			c.campaign(true)
		}
	}
}

// timeoutNowIsCurrent reports whether a TimeoutNow from our leader belongs
// to a transfer the leader still makes. One older than a plain heartbeat
// we echoed is stale: the transfer it belongs to was abandoned, and our
// echo may back the lease the leader resumed. After a restart we no longer
// know what we echoed before the crash, so until we echo a plain
// heartbeat again we obey only while the leader announces a transfer,
// during which it holds no lease (its TransferLeadership announces before
// it sends TimeoutNow). Index 0 comes from a sender that does not stamp
// it, and is obeyed as before.
func (c *Core) timeoutNowIsCurrent(m Message) bool {
	switch {
	case m.Index == 0:
		return true
	case c.plainHeartbeatForgotten:
		return c.leaderTransferring
	default:
		return m.Index >= c.plainHeartbeatTick
	}
}

// handleAppend is the receiver side of AppendEntries (Raft Figure 2, §5.3).
// Its answer is queued in SendAfterPersist: a success acknowledges entries,
// which the leader will count towards a quorum, so it must not leave before
// they are durable.
func (c *Core) handleAppend(m Message) {
	if m.LogIndex < c.log.committed {
		// The append starts inside our committed prefix, which matches the
		// leader's (Leader Completeness): it is a stale duplicate.
		c.send(Message{Type: MessageAppendResponse, To: m.From, Index: c.log.committed})
		return
	}
	lastNew, written, ok := c.log.appendFollower(m.LogIndex, m.LogTerm, m.Entries)
	if !ok {
		// The consistency check failed: we hold no entry at LogIndex with
		// LogTerm. Hint where our log may match, so the leader can skip
		// every entry of a term that conflicts instead of backing up one
		// index per round trip (Raft §5.3, the optimization it describes).
		hintIndex, hintTerm := c.log.findConflictByTerm(min(m.LogIndex, c.log.lastIndex()), m.LogTerm)
		c.send(Message{Type: MessageAppendResponse, To: m.From, Reject: true, Index: m.LogIndex, HintIndex: hintIndex, HintTerm: hintTerm})
		return
	}
	if !mutated(mutationMembershipNotOnAppend) {
		c.noteAppended(written)
	}
	// Our log now matches the leader's up to lastNew, and no further is
	// verified: entries beyond it may be stale, so the commit index learnt
	// from the leader is capped there.
	verified := lastNew
	if mutated(mutationFollowerCommitUncapped) {
		verified = c.log.lastIndex()
	}
	c.log.commitTo(min(m.Commit, verified))
	c.send(Message{Type: MessageAppendResponse, To: m.From, Index: lastNew})
}

// handleHeartbeat learns the commit index from a heartbeat. The leader caps
// it at our match index, which our log holds in agreement with the leader.
func (c *Core) handleHeartbeat(m Message) {
	if m.Commit <= c.log.lastIndex() {
		c.log.commitTo(m.Commit)
	}
	// Echo the leader's clock: it backs the leader's lease.
	if !m.Transfer {
		c.plainHeartbeatTick = max(c.plainHeartbeatTick, m.Index)
		c.plainHeartbeatForgotten = false
	}
	c.send(Message{Type: MessageHeartbeatResponse, To: m.From, Context: m.Context, Index: m.Index})
}
