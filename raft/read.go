package raft

import (
	"bytes"

	"github.com/lockstepdb/lockstep/raft/quorum"
)

// ReadState says that a linearizable read identified by Context may be
// served once the local state machine has applied Index.
type ReadState struct {
	Index   uint64
	Context []byte
}

// readRequest is a read waiting for a quorum to confirm this node still
// leads.
type readRequest struct {
	context []byte
	index   uint64
	from    NodeID // who asked: this node or a follower
	acks    map[NodeID]bool
}

// ReadIndex starts a linearizable read identified by context, which the
// caller makes unique. The answer arrives as a ReadState in a later Ready:
// serve the read once the state machine has applied ReadState.Index
// (thesis §6.4). On the leader the index is its commit index, released once
// a quorum's heartbeat responses confirm it still leads and once an entry of
// its own term has committed (so the commit index is current). On a
// follower the request is forwarded to the leader; with no known leader it
// fails with *NotLeaderError. A request that gets no answer (lost message,
// leader change) must be retried with a new context; a retry is answered
// with an index no older than the first. Call it serialised with the core's
// other methods (see Core), not between Ready and Advance.
func (c *Core) ReadIndex(context []byte) error {
	c.checkNoReadyOutstanding("ReadIndex")
	switch {
	case c.role == RoleLeader:
		c.addRead(context, c.id)
	case c.leader != None:
		c.send(Message{Type: MessageReadIndex, To: c.leader, Context: context})
	default:
		return &NotLeaderError{Leader: None, Term: c.term}
	}
	return nil
}

// addRead registers a read on the leader.
func (c *Core) addRead(context []byte, from NodeID) {
	if !c.committedInCurrentTerm() && !mutated(mutationReadBeforeTermCommit) {
		// The commit index may lag behind what earlier leaders committed
		// until our own entry commits; hold the read until then.
		c.readsAwaitingCommit = append(c.readsAwaitingCommit, readRequest{context: context, from: from})
		return
	}
	request := readRequest{context: context, index: c.log.committed, from: from, acks: map[NodeID]bool{c.id: true}}
	if c.voters().Vote(request.acks) == quorum.VoteWon || c.holdsLease() || mutated(mutationReadWithoutQuorum) {
		// A single voter is its own quorum; a lease stands for one.
		c.answerRead(request)
		return
	}
	c.readRequests = append(c.readRequests, request)
	for _, id := range c.members() {
		if id != c.id {
			c.send(Message{Type: MessageHeartbeat, To: id, Commit: min(c.progress[id].match, c.log.committed), Context: context})
		}
	}
}

func (c *Core) committedInCurrentTerm() bool {
	return c.log.termOrZero(c.log.committed) == c.term
}

// releaseReadsAwaitingCommit registers the reads held until an entry of
// the leader's term committed.
func (c *Core) releaseReadsAwaitingCommit() {
	if len(c.readsAwaitingCommit) == 0 || !c.committedInCurrentTerm() {
		return
	}
	waiting := c.readsAwaitingCommit
	c.readsAwaitingCommit = nil
	for _, request := range waiting {
		c.addRead(request.context, request.from)
	}
}

// confirmRead records a heartbeat response echoing a read's context. Once a
// quorum confirmed it, that read and every earlier one are answered: the
// confirmation happened after all of them were registered.
func (c *Core) confirmRead(from NodeID, context []byte) {
	for i := range c.readRequests {
		if !bytes.Equal(c.readRequests[i].context, context) {
			continue
		}
		c.readRequests[i].acks[from] = true
		if c.voters().Vote(c.readRequests[i].acks) != quorum.VoteWon {
			return
		}
		for _, request := range c.readRequests[:i+1] {
			c.answerRead(request)
		}
		c.readRequests = append([]readRequest(nil), c.readRequests[i+1:]...)
		return
	}
}

func (c *Core) answerRead(request readRequest) {
	if request.from == c.id {
		c.readStates = append(c.readStates, ReadState{Index: request.index, Context: request.context})
		return
	}
	c.send(Message{Type: MessageReadIndexResponse, To: request.from, Index: request.index, Context: request.context})
}

// holdsLease reports whether the leader may answer reads without a
// heartbeat round (Config.LeaseReads): a quorum acknowledged a heartbeat it
// sent at tick s, after the latest transfer or election, and fewer than
// ElectionTicks - MaxClockDriftTicks ticks have passed since s.
func (c *Core) holdsLease() bool {
	if !c.config.LeaseReads || (c.transferTarget != None && !mutated(mutationLeaseDuringTransfer)) {
		return false
	}
	start := c.voters().CommittedIndex(func(id NodeID) uint64 {
		if id == c.id {
			return c.ticks
		}
		if replica := c.progress[id]; replica != nil {
			return replica.leaseTick
		}
		return 0
	})
	bound := uint64(c.config.ElectionTicks - c.config.MaxClockDriftTicks)
	if mutated(mutationLeaseOverlong) {
		bound = 2 * uint64(c.config.ElectionTicks)
	}
	return start > c.leaseNotBefore && c.ticks < start+bound
}
