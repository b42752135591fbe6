package raft

import (
	"errors"
	"fmt"
)

// NotLeaderError is returned by Propose on a node that is not the leader.
// Leader is the leader this node knows of in its current term, or None if
// it knows of none (an election may be in progress); a client should retry
// there.
type NotLeaderError struct {
	Leader NodeID
	Term   uint64
}

func (e *NotLeaderError) Error() string {
	if e.Leader == None {
		return fmt.Sprintf("raft: not the leader; no leader known in term %d", e.Term)
	}
	return fmt.Sprintf("raft: not the leader; the leader is node %d (term %d)", e.Leader, e.Term)
}

// ErrProposalDropped is returned by Propose when the leader refuses a
// command because too many uncommitted bytes are pending
// (Config.MaxUncommittedBytes). Nothing was appended; the caller may retry.
var ErrProposalDropped = errors.New("raft: proposal dropped: too many uncommitted entries")

// ErrInvalidMessage is wrapped by Step's errors for messages that are
// malformed or addressed to another node. Such a message is ignored.
var ErrInvalidMessage = errors.New("raft: invalid message")
