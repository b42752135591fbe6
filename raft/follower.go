package raft

// stepFollower handles messages while following.
func (c *Core) stepFollower(m Message) {
	switch m.Type {
	case MessageAppend:
		c.leader = m.From
		c.electionElapsed = 0
		// An append carries no clock: it may be older than the latest
		// announcement, or than its end, so it can end an announcement
		// (which only delays a transfer) but not make one.
		if !m.Transfer {
			c.leaderTransferring = false
		}
		c.handleAppend(m)
	case MessageHeartbeat:
		c.leader = m.From
		c.electionElapsed = 0
		// A heartbeat older than one already received (a late copy, or a
		// read round's, which carries no clock) says nothing about
		// whether the leader still hands over.
		if m.Index >= c.leaderClock {
			c.leaderClock = m.Index
			c.leaderTransferring = m.Transfer
		}
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
// know what we echoed before the crash, and nothing the leader sends tells
// us (a late announcement of an abandoned transfer looks like a current
// one): with LeaseReads we obey no TimeoutNow during our first election
// timeout, after which no echo from before the crash backs a lease (the
// config's drift assumption, as for restartLease). Index 0 comes from a
// sender that does not stamp it, and is obeyed as before.
func (c *Core) timeoutNowIsCurrent(m Message) bool {
	switch {
	case m.Index == 0:
		return true
	case c.echoesForgotten && c.ticks < uint64(c.config.ElectionTicks):
		return false
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
	}
	c.send(Message{Type: MessageHeartbeatResponse, To: m.From, Context: m.Context, Index: m.Index})
}
