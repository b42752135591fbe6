// Package raft is lockstep's consensus core: the Raft protocol as a pure,
// deterministic state machine. It has no goroutines, clocks, I/O or
// randomness of its own. The caller (the runtime in node/, or the simulator
// in sim/) feeds it inputs — Tick, Step, Propose — and drains its outputs
// as a Ready batch, which it acknowledges with Advance.
//
// The persistence contract: a Ready's HardState and Entries must be durable
// before any message in Ready.SendAfterPersist is sent and before
// CommittedEntries are applied; Ready.SendNow may be sent at once. The core
// puts a message in SendNow only when it depends on nothing that is not yet
// durable: a leader's appends and heartbeats, whose term was made durable
// when the node campaigned. The leader's own new entries may thus travel to
// followers while the leader writes them (thesis §10.2.1), but the leader
// counts itself towards a quorum only once Advance reports them durable.
// With Config.AsyncPersistence the runtime may keep feeding inputs while a
// write is in flight and reports it durable with Persisted; the core then
// holds SendAfterPersist messages itself until their write is durable.
//
// References: "In Search of an Understandable Consensus Algorithm" (Ongaro
// and Ousterhout, 2014), cited as Raft §N, and Ongaro's dissertation
// "Consensus: Bridging Theory and Practice" (2014), cited as thesis §N.
package raft

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/lockstepdb/lockstep/raft/quorum"
)

// Core is one node's consensus state machine.
//
// Threading contract: access must be serialised. The core holds no lock and
// starts no goroutine; no two of its methods may run at the same time, and
// each call must happen after the previous one returned (happens-before,
// in the Go memory model's sense). Which goroutine makes a call does not
// matter: one goroutine that drives the core (node/'s loop), or several
// that take turns under one mutex, both satisfy it. Storage is called only
// from within the core's methods, so under the same serialisation.
//
// Between Ready and Advance the core accepts no input: Tick, Step,
// Propose, ReadIndex, Persisted and the other methods that change it panic
// there; HasReady reports false and Status and Summary may be read.
type Core struct {
	id     NodeID
	config Config
	random *rand.Rand

	// Persistent state (Raft Figure 2), durable once a Ready carrying it
	// has been advanced.
	term uint64
	vote NodeID
	log  *raftLog

	role       Role
	leader     NodeID
	membership Membership
	// memberIDs caches members(); nil when membership changed since.
	memberIDs []NodeID

	// progress is the leader's view of every member, itself included.
	progress map[NodeID]*progress
	// votes collects (pre-)vote responses while campaigning.
	votes map[NodeID]bool

	electionElapsed int
	// ticks counts every Tick: the leader's clock for leases.
	ticks uint64
	// restartLease makes a restarted node with LeaseReads refuse votes for
	// its first election timeout: it may have acknowledged a leader's lease
	// before it crashed and forgotten it.
	restartLease bool
	// leaderTransferring is set while the leader's latest message
	// announced a leadership transfer.
	leaderTransferring bool
	// plainHeartbeatTick is the leader's clock (Message.Index) in the
	// latest heartbeat of this term without Transfer that this node
	// echoed: such an echo may back the leader's lease (holdsLease), so a
	// TimeoutNow the leader sent before that tick (a transfer since
	// abandoned, delivered late) must not make this node stand.
	plainHeartbeatTick uint64
	// echoesForgotten is set when a node with LeaseReads restarts in a
	// term it may have followed: before it crashed it may have echoed
	// heartbeats that still back the leader's lease, and it no longer
	// knows which. It matters for the first ElectionTicks ticks only
	// (timeoutNowIsCurrent).
	echoesForgotten bool
	// leaderClock is the leader's clock (Message.Index) in the newest
	// heartbeat of this term this node received: leaderTransferring
	// follows only heartbeats at least that new, so that a late one, from
	// a transfer since abandoned, cannot announce it again.
	leaderClock uint64
	// leaseNotBefore: only heartbeats sent after this tick back a lease
	// (it moves when a transfer starts or ends, and on election).
	leaseNotBefore            uint64
	heartbeatElapsed          int
	randomizedElectionTimeout int

	// uncommittedBytes is the payload a leader accepted beyond its commit.
	uncommittedBytes uint64

	// Outputs waiting for the next Ready.
	sendNow          []Message
	sendAfterPersist []Message
	// broadcastPending defers sending new entries until the next Ready, so
	// that every proposal made in between travels in one append per
	// follower.
	broadcastPending bool
	// commitBroadcastPending makes that broadcast include followers with
	// nothing new to receive but a commit index to learn.
	commitBroadcastPending bool

	// baseMembership is the membership at the start of the log (from the
	// snapshot, or the bootstrap configuration); membershipLog holds the
	// configuration entries appended since, in index order.
	baseMembership Membership
	membershipLog  []membershipAt

	// transferTarget is the node leadership is being handed to, or None;
	// transferElapsed counts ticks since the transfer began.
	transferTarget  NodeID
	transferElapsed int

	// readRequests wait for a quorum's confirmation; readsAwaitingCommit
	// wait for the leader's first entry of its term to commit; readStates
	// are answers for the next Ready.
	readRequests        []readRequest
	readsAwaitingCommit []readRequest
	readStates          []ReadState

	// durableHardState is the hard state as last persisted; takenHardState
	// as last handed out in a Ready (equal outside Ready/Advance in the
	// synchronous mode).
	durableHardState HardState
	takenHardState   HardState
	// writeSequence numbers the writes handed out (AsyncPersistence);
	// persistedSequence is the last one reported durable.
	writeSequence     uint64
	persistedSequence uint64
	// held are messages waiting for a write to be durable; released are
	// those whose write is durable, for the next Ready (AsyncPersistence).
	held     []heldMessage
	released []Message
	// readyOutstanding is true between Ready and Advance.
	readyOutstanding bool
}

// NewCore builds a node's core from its configuration and the state in its
// Storage. A node restarted from its persisted hard state and log resumes
// as a follower in its persisted term, keeping its vote.
func NewCore(config Config) (*Core, error) {
	config = config.withDefaults()
	if err := config.validate(); err != nil {
		return nil, err
	}
	hardState, membership, err := config.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raft: read initial state: %w", err)
	}
	if len(membership.Voters) == 0 {
		membership = config.InitialMembership.Clone()
	}
	if len(membership.Voters) == 0 && !config.Join {
		return nil, fmt.Errorf("raft: node %d: no membership in storage or config (set InitialMembership to bootstrap a cluster, or Join to join one)", config.ID)
	}
	core := &Core{
		id:               config.ID,
		config:           config,
		random:           rand.New(config.Random),
		term:             hardState.Term,
		vote:             hardState.Vote,
		baseMembership:   membership,
		membership:       membership.Clone(),
		durableHardState: hardState,
		takenHardState:   hardState,
	}
	core.log = newRaftLog(config.Storage, max(hardState.Commit, config.Committed), config.Applied)
	core.log.async = config.AsyncPersistence
	if err := core.replayMembership(); err != nil {
		return nil, err
	}
	core.becomeFollower(hardState.Term, None)
	core.restartLease = config.LeaseReads
	// An echo leaves only once the term it answers is durable, so a node
	// with no durable term has echoed nothing.
	core.echoesForgotten = config.LeaseReads && hardState.Term > 0
	return core, nil
}

// replayMembership rebuilds the configuration history from the durable log,
// reading it in bounded chunks.
func (c *Core) replayMembership() error {
	first, last := c.log.firstIndex(), c.log.lastIndex()
	for low := first; low <= last; {
		entries, err := c.log.slice(low, last+1, maxApplyBytesPerReady)
		if err != nil {
			return fmt.Errorf("raft: read log [%d, %d] for membership entries: %w", low, last, err)
		}
		for _, entry := range entries {
			if entry.Type != EntryMembership {
				continue
			}
			membership, err := DecodeMembership(entry.Data)
			if err != nil {
				return fmt.Errorf("raft: membership entry %d in the log: %w", entry.Index, err)
			}
			c.membershipLog = append(c.membershipLog, membershipAt{index: entry.Index, membership: membership})
		}
		low += uint64(len(entries))
	}
	c.membership = c.membershipAt(^uint64(0)).Clone()
	c.memberIDs = nil
	return nil
}

// ID returns the node's ID.
func (c *Core) ID() NodeID { return c.id }

func (c *Core) hardState() HardState {
	return HardState{Term: c.term, Vote: c.vote, Commit: c.log.committed}
}

// voters returns the quorum configuration.
func (c *Core) voters() quorum.Joint[NodeID] {
	if mutated(mutationIgnoreOutgoingVoters) {
		return quorum.Joint[NodeID]{Incoming: c.membership.Voters}
	}
	return quorum.Joint[NodeID]{Incoming: c.membership.Voters, Outgoing: c.membership.OutgoingVoters}
}

// isVoter reports whether id takes part in quorums.
func (c *Core) isVoter(id NodeID) bool {
	return slices.Contains(c.membership.Voters, id) || slices.Contains(c.membership.OutgoingVoters, id)
}

// members returns every node that receives the log, voters and learners,
// sorted. The slice is cached (it is read on every broadcast) and must not
// be modified.
func (c *Core) members() []NodeID {
	if c.memberIDs == nil {
		all := slices.Concat(c.membership.Voters, c.membership.OutgoingVoters, c.membership.Learners)
		slices.Sort(all)
		c.memberIDs = slices.Compact(all)
	}
	return c.memberIDs
}

// send queues a message. It fills in From and, unless set, Term. Leader
// appends and heartbeats go out at once; everything else waits until the
// state it reports on is durable (the persistence contract).
func (c *Core) send(m Message) {
	m.From = c.id
	if m.Term == 0 {
		m.Term = c.term
	}
	leaderTraffic := m.Type == MessageAppend || m.Type == MessageHeartbeat || m.Type == MessageSnapshot || m.Type == MessageTimeoutNow
	earlyAnswer := (mutated(mutationVoteBeforePersist) && m.Type == MessageVoteResponse && !m.Reject) ||
		(mutated(mutationAckBeforePersist) && m.Type == MessageAppendResponse && !m.Reject)
	if earlyAnswer || leaderTraffic && c.role == RoleLeader && c.durableHardState.Term == c.term {
		c.sendNow = append(c.sendNow, m)
		return
	}
	c.sendAfterPersist = append(c.sendAfterPersist, m)
}

func (c *Core) resetElectionTimer() {
	c.electionElapsed = 0
	c.heartbeatElapsed = 0
	// Randomized in [E, 2E) so that split votes are rare (Raft §5.2).
	c.randomizedElectionTimeout = c.config.ElectionTicks + c.random.IntN(c.config.ElectionTicks)
}

// becomeFollower moves to term as a follower of leader (None if unknown).
// A new term clears the vote: at most one vote per term (Raft §5.2).
func (c *Core) becomeFollower(term uint64, leader NodeID) {
	if term < c.term {
		panic(fmt.Sprintf("raft: node %d: term would go backwards from %d to %d", c.id, c.term, term))
	}
	if term > c.term {
		c.term = term
		c.vote = None
		c.plainHeartbeatTick = 0 // another leader, another clock
		c.leaderClock = 0
		c.leaderTransferring = false
	}
	c.role = RoleFollower
	c.leader = leader
	c.progress = nil
	c.votes = nil
	c.uncommittedBytes = 0
	c.broadcastPending = false
	c.commitBroadcastPending = false
	c.transferTarget = None
	// Reads not yet confirmed are dropped: their callers time out and
	// retry with whoever leads next.
	c.readRequests = nil
	c.readsAwaitingCommit = nil
	c.resetElectionTimer()
}

// Step feeds a message from another node into the core. It returns an
// error wrapping ErrInvalidMessage, and changes nothing, if the message is
// malformed or not addressed to this node. Call it serialised with the
// core's other methods (see Core), and not between Ready and Advance.
func (c *Core) Step(m Message) error {
	c.checkNoReadyOutstanding("Step")
	if err := c.validateMessage(m); err != nil {
		return err
	}
	switch {
	case m.Term > c.term:
		if (m.Type == MessageVote || m.Type == MessagePreVote) && c.inLeaderLease() && !c.answersTransferVote(m) {
			// We heard from a leader less than an election timeout ago:
			// ignore the vote request without adopting its term, so that
			// a node that was cut off cannot depose a leader that still
			// has a quorum (thesis §4.2.3).
			return nil
		}
		switch {
		case mutated(mutationKeepLeadingOnHigherTerm) && c.role == RoleLeader:
			c.term, c.vote = m.Term, None
		case m.Type == MessagePreVote && mutated(mutationPreVoteAdoptsTerm):
			c.becomeFollower(m.Term, None)
		case m.Type == MessagePreVote:
			// A pre-vote request does not change anyone's term.
		case m.Type == MessagePreVoteResponse && !m.Reject:
			// A granted pre-vote carries the term the candidate asked
			// about, which nobody holds yet.
		case m.Type == MessageAppend || m.Type == MessageHeartbeat || m.Type == MessageSnapshot:
			c.becomeFollower(m.Term, m.From)
		case m.Type == MessageVote:
			// Adopt the term but keep the election timer running: only a
			// leader's message or a granted vote resets it (Raft Figure 2,
			// "Rules for Servers"). Otherwise a candidate whose log is too
			// stale to win, but whose clock runs fast, would reset everyone
			// else's timer with each attempt and keep any electable node
			// from ever standing.
			elapsed, timeout := c.electionElapsed, c.randomizedElectionTimeout
			c.becomeFollower(m.Term, None)
			c.electionElapsed, c.randomizedElectionTimeout = elapsed, timeout
		default:
			c.becomeFollower(m.Term, None)
		}
	case m.Term < c.term && !mutated(mutationAcceptStaleTerm):
		c.answerStaleTerm(m)
		return nil
	}

	switch m.Type {
	case MessageVote, MessagePreVote:
		c.handleVoteRequest(m)
		return nil
	}
	switch c.role {
	case RoleLeader:
		c.stepLeader(m)
	case RoleCandidate, RolePreCandidate:
		c.stepCandidate(m)
	default:
		c.stepFollower(m)
	}
	return nil
}

// answerStaleTerm handles a message from a lower term: it is never acted
// upon (terms are fencing tokens, Raft §5.1), but some deserve an answer.
func (c *Core) answerStaleTerm(m Message) {
	switch m.Type {
	case MessageAppend, MessageHeartbeat, MessageSnapshot:
		// A leader of an old term. Tell it our term so it steps down.
		// Without this, with CheckQuorum or PreVote on, a node whose term
		// rose while partitioned could neither win an election (PreVote
		// fails while the others follow a leader) nor make that leader
		// learn of its term, and would stay out of the cluster for good.
		c.send(Message{Type: MessageAppendResponse, To: m.From})
	case MessagePreVote:
		// Tell the pre-candidate its term is stale, so it catches up.
		c.send(Message{Type: MessagePreVoteResponse, To: m.From, Reject: true})
	}
}

func (c *Core) validateMessage(m Message) error {
	if m.To != c.id {
		return fmt.Errorf("%w: %s addressed to node %v, this is node %v", ErrInvalidMessage, m.Type, m.To, c.id)
	}
	if m.From == None || m.From == c.id {
		return fmt.Errorf("%w: %s from invalid sender %v", ErrInvalidMessage, m.Type, m.From)
	}
	if _, known := messageTypeNames[m.Type]; !known {
		return fmt.Errorf("%w: unknown message type %d from node %d", ErrInvalidMessage, uint8(m.Type), m.From)
	}
	if m.Term == 0 {
		return fmt.Errorf("%w: %s from node %v carries no term", ErrInvalidMessage, m.Type, m.From)
	}
	previousTerm := m.LogTerm
	if m.Type == MessageSnapshot && (m.Snapshot == nil || m.Snapshot.Metadata.Index == 0 || m.Snapshot.Metadata.Term > m.Term ||
		validateMembership(m.Snapshot.Metadata.Membership) != nil) {
		return fmt.Errorf("%w: snapshot message from node %d without a valid snapshot", ErrInvalidMessage, m.From)
	}
	for i, entry := range m.Entries {
		// Entries are consecutive, and terms never decrease along a log
		// nor exceed the sender's term.
		if entry.Index != m.LogIndex+uint64(i)+1 || entry.Term > m.Term || entry.Term < previousTerm || entry.Term == 0 {
			return fmt.Errorf("%w: %s from node %v: entry %d (index %d, term %d) does not follow %d/%d within term %d",
				ErrInvalidMessage, m.Type, m.From, i, entry.Index, entry.Term, m.LogIndex, m.LogTerm, m.Term)
		}
		previousTerm = entry.Term
	}
	return nil
}

func (c *Core) checkNoReadyOutstanding(operation string) {
	if c.readyOutstanding {
		panic(fmt.Sprintf("raft: %s called between Ready and Advance; persist and send the Ready, then call Advance first", operation))
	}
}
