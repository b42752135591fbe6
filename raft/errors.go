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

// ErrEmptyCommand is returned by Propose for a command with no bytes.
// An EntryNormal with empty Data is reserved for the entry a leader appends
// at the start of its term, so that an application can tell it apart from
// every command it proposed. Nothing was appended.
var ErrEmptyCommand = errors.New("raft: empty command: an entry with no data is reserved for a new leader's first entry")

// ErrInvalidMessage is wrapped by Step's errors for messages that are
// malformed or addressed to another node. Such a message is ignored.
var ErrInvalidMessage = errors.New("raft: invalid message")
