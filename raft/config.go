package raft

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Config configures one node's core. Zero values of the optional fields get
// the defaults documented on each.
type Config struct {
	// ID is this node's identity; it must not be None.
	ID NodeID
	// Storage is the node's durable log. Required.
	Storage Storage
	// Random is the only source of randomness the core uses (for the
	// election timeout). Required: the simulator hands each node a seeded
	// source so that runs replay exactly; the runtime hands a random one.
	Random rand.Source
	// InitialMembership bootstraps a brand-new cluster without any log
	// entries: it is used only when Storage holds no membership yet.
	InitialMembership Membership
	// Join says this node joins an existing cluster: it starts with no
	// membership, as a non-voter, and learns the membership from the
	// leader (a new node is added as a learner first). Without Join, a
	// node with no membership in Storage or InitialMembership is a
	// configuration error.
	Join bool
	// Applied is the last index the application has already applied (for
	// example, recovered with its state). Committed entries after it will
	// be delivered again; entries at or before it never are.
	Applied uint64
	// Committed is a commit index the application knows from its own
	// state: a state machine that keeps its state durably and had applied
	// this far (a runtime applies only committed entries, and only once
	// they are durable in this node's log, so the log holds them). The
	// log's recorded commit index may trail it, since a hard state that
	// only moves the commit index need not be written. The core starts
	// with its commit index at least this; it must not exceed the last
	// entry in Storage. Entries after Applied are still delivered.
	Committed uint64

	// ElectionTicks is E: a follower that hears from no leader for a
	// randomized timeout in [E, 2E) ticks starts an election (Raft §5.2).
	// Default 10.
	ElectionTicks int
	// HeartbeatTicks is how often a leader sends heartbeats. It must be
	// smaller than ElectionTicks. Default 1.
	HeartbeatTicks int

	// DisablePreVote turns PreVote off (it is on by default): with PreVote
	// a node first asks whether it could win before it increments its
	// term, so a node that was partitioned away cannot force a healthy
	// leader to step down when it returns (thesis §9.6).
	DisablePreVote bool
	// DisableCheckQuorum turns CheckQuorum off (it is on by default): with
	// it a leader that has not heard from a quorum within an election
	// timeout steps down, and followers that heard from a leader within
	// the election timeout ignore vote requests (thesis §6.2, §4.2.3).
	DisableCheckQuorum bool

	// LeaseReads lets the leader answer ReadIndex at once, without a
	// heartbeat round, while it holds a lease: a quorum acknowledged a
	// heartbeat it sent at tick s, and fewer than ElectionTicks -
	// MaxClockDriftTicks of its ticks have passed since s. The lease is
	// sound because every follower that acknowledged refuses to vote for
	// another candidate for ElectionTicks of its own ticks after hearing
	// from the leader (CheckQuorum, required), even across a restart, and
	// accepts a leadership-transfer vote only if the leader announced a
	// transfer. The assumption is a clock-rate bound: ElectionTicks ticks of
	// any follower last at least ElectionTicks - MaxClockDriftTicks ticks
	// of the leader. If clocks can drift more, leave LeaseReads off;
	// ReadIndex stays linearizable without it. Enable it on every node.
	// Its cost besides the assumption: a node restarted less than an
	// election timeout ago refuses a leadership transfer to itself (its
	// echoes from before the crash may still back a lease it cannot
	// know of), so a transfer or a departing leader's hand-over to it is
	// abandoned and an ordinary election follows.
	LeaseReads bool
	// MaxClockDriftTicks is the drift bound for LeaseReads (required with
	// it: at least 1, less than ElectionTicks).
	MaxClockDriftTicks int

	// MaxAppendBytes bounds the entry bytes of one append message (the
	// first entry is always sent whatever its size). Default 1 MiB.
	MaxAppendBytes uint64
	// MaxInflightAppends bounds how many append messages may be in flight,
	// unacknowledged, to one follower while replicating in pipeline.
	// Default 256.
	MaxInflightAppends int
	// MaxInflightSmallAppends bounds how many appends may be in flight to
	// one follower before the leader holds back a small one: an append
	// that would carry less than a sixteenth of MaxAppendBytes (64 KiB by
	// default), or no entries at all. The entries held back go together
	// when an acknowledgement frees the window, or as soon as they reach
	// that size; a heartbeat's answer frees a slot if the window stays
	// full, as for MaxInflightAppends. A follower syncs its log in
	// batches, so the entries a busy leader sends one Ready at a time
	// reach the disk together anyway; sent together, they cost the
	// follower one message to receive, step and persist instead of
	// dozens. Under light load fewer appends are in flight and nothing is
	// held. Default 4; MaxInflightAppends (or more) holds nothing back.
	MaxInflightSmallAppends int
	// MaxInflightBytes bounds the entry bytes in flight to one follower;
	// 0 means no byte limit beyond MaxInflightAppends x MaxAppendBytes.
	MaxInflightBytes uint64
	// MaxUncommittedBytes bounds the payload bytes a leader accepts beyond
	// its commit index; proposals past it fail with ErrProposalDropped so
	// that a leader cut off from its followers does not grow without
	// limit. 0 means no limit.
	MaxUncommittedBytes uint64

	// AsyncPersistence lets the runtime go on stepping inputs while a
	// Ready's write is in flight. Ready and Advance then mean "taken": the
	// runtime promises to persist the Ready's Snapshot, HardState and
	// Entries, in the order of the Readies, and reports each write durable
	// later with Persisted(Ready.PersistSequence). Until then the core holds
	// the messages that depend on the write (a Ready's SendAfterPersist
	// carries only messages whose writes are durable: send them at once),
	// a leader does not count itself for the entries, and committed entries
	// are delivered only once durable. Off by default: the classic
	// synchronous model, where Advance means "durable".
	AsyncPersistence bool
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.ElectionTicks == 0 {
		out.ElectionTicks = 10
	}
	if out.HeartbeatTicks == 0 {
		out.HeartbeatTicks = 1
	}
	if out.MaxAppendBytes == 0 {
		out.MaxAppendBytes = 1 << 20
	}
	if out.MaxInflightAppends == 0 {
		out.MaxInflightAppends = 256
	}
	if out.MaxInflightSmallAppends == 0 {
		out.MaxInflightSmallAppends = min(4, out.MaxInflightAppends)
	}
	return out
}

func (c *Config) validate() error {
	if c.ID == None {
		return errors.New("raft: config: ID must not be zero")
	}
	if c.Storage == nil {
		return errors.New("raft: config: Storage is required")
	}
	if c.Random == nil {
		return errors.New("raft: config: Random is required (the core draws no randomness of its own)")
	}
	if c.ElectionTicks < 2 {
		return fmt.Errorf("raft: config: ElectionTicks %d must be at least 2", c.ElectionTicks)
	}
	if c.HeartbeatTicks < 1 || c.HeartbeatTicks >= c.ElectionTicks {
		return fmt.Errorf("raft: config: HeartbeatTicks %d must be in [1, ElectionTicks=%d)", c.HeartbeatTicks, c.ElectionTicks)
	}
	if c.LeaseReads {
		if c.DisableCheckQuorum {
			return errors.New("raft: config: LeaseReads needs CheckQuorum (followers must honor the leader's lease)")
		}
		if c.MaxClockDriftTicks < 1 || c.MaxClockDriftTicks >= c.ElectionTicks {
			return fmt.Errorf("raft: config: MaxClockDriftTicks %d must be in [1, ElectionTicks=%d) with LeaseReads", c.MaxClockDriftTicks, c.ElectionTicks)
		}
	}
	if c.MaxInflightAppends < 1 {
		return fmt.Errorf("raft: config: MaxInflightAppends %d must be positive", c.MaxInflightAppends)
	}
	if c.MaxInflightSmallAppends < 1 {
		return fmt.Errorf("raft: config: MaxInflightSmallAppends %d must be positive", c.MaxInflightSmallAppends)
	}
	return validateMembership(c.InitialMembership)
}

// validateMembership checks that a membership names each node once.
func validateMembership(m Membership) error {
	seen := map[NodeID]string{}
	check := func(role string, ids []NodeID) error {
		for _, id := range ids {
			if id == None {
				return fmt.Errorf("raft: membership: %s list contains node ID 0", role)
			}
			if previous, dup := seen[id]; dup && !(previous == "outgoing voter" && role == "voter") && !(previous == "voter" && role == "outgoing voter") {
				return fmt.Errorf("raft: membership: node %v is both %s and %s", id, previous, role)
			}
			seen[id] = role
		}
		return nil
	}
	if err := check("voter", m.Voters); err != nil {
		return err
	}
	if err := check("outgoing voter", m.OutgoingVoters); err != nil {
		return err
	}
	return check("learner", m.Learners)
}
