package raft

import "fmt"

// Role is a node's part in the protocol (Raft §5.1, thesis §9.6).
type Role uint8

const (
	// RoleFollower answers leaders and candidates.
	RoleFollower Role = iota
	// RolePreCandidate asks whether it could win before campaigning.
	RolePreCandidate
	// RoleCandidate campaigns for votes in a new term.
	RoleCandidate
	// RoleLeader orders commands and replicates the log.
	RoleLeader
)

// String returns the role as logs and status pages print it: follower,
// pre-candidate, candidate or leader.
func (r Role) String() string {
	switch r {
	case RoleFollower:
		return "follower"
	case RolePreCandidate:
		return "pre-candidate"
	case RoleCandidate:
		return "candidate"
	case RoleLeader:
		return "leader"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// Status is a snapshot of a node's state, for observation and tests.
type Status struct {
	ID        NodeID
	Role      Role
	Term      uint64
	Vote      NodeID
	Leader    NodeID
	Commit    uint64
	Applied   uint64
	LastIndex uint64
	LastTerm  uint64
	// Transferring is, on a leader handing leadership over
	// (TransferLeadership), the target; None otherwise, including once the
	// transfer was abandoned.
	Transferring NodeID
	// Followers is the leader's view of each other member; nil on other
	// roles.
	Followers map[NodeID]FollowerStatus
}

// FollowerStatus is the leader's view of one member.
type FollowerStatus struct {
	Match       uint64
	Next        uint64
	Replicating bool // pipelining (true) or probing (false)
	Inflight    int  // unacknowledged appends
}

// Status returns the node's current state. It is cheap; call it serialised
// with the core's other methods (see Core); it may be called between Ready
// and Advance.
func (c *Core) Status() Status {
	status := Status{
		ID:        c.id,
		Role:      c.role,
		Term:      c.term,
		Vote:      c.vote,
		Leader:    c.leader,
		Commit:    c.log.committed,
		Applied:   c.log.applied,
		LastIndex: c.log.lastIndex(),
		LastTerm:  c.log.lastTerm(),
	}
	if c.role == RoleLeader {
		status.Transferring = c.transferTarget
		status.Followers = make(map[NodeID]FollowerStatus, len(c.progress))
		for id, follower := range c.progress {
			if id == c.id {
				continue
			}
			status.Followers[id] = FollowerStatus{Match: follower.match, Next: follower.next, Replicating: follower.state == stateReplicate, Inflight: follower.inflights.count}
		}
	}
	return status
}

// Summary is the part of Status that is cheap to read on every step: no
// allocation, no follower details.
type Summary struct {
	Role   Role
	Term   uint64
	Leader NodeID
	Commit uint64
}

// Summary returns the node's role, term, known leader and commit index.
func (c *Core) Summary() Summary {
	return Summary{Role: c.role, Term: c.term, Leader: c.leader, Commit: c.log.committed}
}

// Membership returns the configuration in effect: the latest in the log,
// committed or not (thesis §4.1).
func (c *Core) Membership() Membership { return c.membership.Clone() }
