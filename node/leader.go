package node

import (
	"context"
	"errors"

	"github.com/lockstepdb/lockstep/raft"
)

// WaitForLeader returns the leader this node knows of, waiting while it
// knows none (an election is under way, or the node just started) until
// one is known, ctx ends, or the node stops. It may be called from any
// goroutine. The answer can be out of date by the time it is used: a
// Propose there may still return a *NotLeaderError (see Retryable).
func (n *Node) WaitForLeader(ctx context.Context) (raft.NodeID, error) {
	// Subscribe first, so that a leader elected after the status check
	// below still wakes us.
	events, cancel := n.Subscribe(16)
	defer cancel()
	for {
		status, err := n.Status(ctx)
		if err != nil {
			return raft.None, err
		}
		if status.Leader != raft.None {
			return status.Leader, nil
		}
		select {
		case <-events:
		case <-ctx.Done():
			return raft.None, ctx.Err()
		case <-n.done:
			return raft.None, ErrStopped
		}
	}
}

// Retryable reports whether err, returned by Propose, means the command was
// certainly not applied, so proposing it again cannot apply it twice: this
// node was not the leader (*NotLeaderError: try the leader it names, or
// WaitForLeader), or the command was dropped (ErrDropped). It is false for
// ErrMaybeCommitted, after which the command may still apply, and for
// every other error.
func Retryable(err error) bool {
	var notLeader *NotLeaderError
	return errors.As(err, &notLeader) || errors.Is(err, ErrDropped)
}
