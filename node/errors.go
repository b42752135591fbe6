package node

import (
	"errors"
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
)

// NotLeaderError is returned by calls that only the leader can serve. Leader
// is the leader this node knows of (raft.None if none: an election may be
// running) and Address its peer address, if known.
type NotLeaderError struct {
	Leader  raft.NodeID
	Address string
}

func (e *NotLeaderError) Error() string {
	if e.Leader == raft.None {
		return "node: not the leader, and no leader is known"
	}
	return fmt.Sprintf("node: not the leader; the leader is node %v at %q", e.Leader, e.Address)
}

// ErrMaybeCommitted is returned by Propose when its context ended after the
// loop took the command (the leader may have accepted it): it may yet
// commit and apply, or not. A context that ends while the command is still
// queued for the loop gives the context's error instead, and the command
// is never proposed. It is
// also returned, at once, when a snapshot from a new leader covers the
// command's entry on a leader deposed meanwhile: the entry may have been
// committed, with a result that node never computed.
var ErrMaybeCommitted = errors.New("node: timed out; the command may still be committed")

// ErrDropped is returned by Propose when the command will certainly not be
// applied: the leader refused it (too much uncommitted data, a transfer in
// progress), or another leader's entry took its place in the log.
var ErrDropped = errors.New("node: command dropped; it was not applied")

// ErrTransferAbandoned is returned by TransferLeadership when the leader
// gave the transfer up: the target did not take over within an election
// timeout (it may be down, cut off, or too far behind), or leadership went
// elsewhere. The leader, if still the leader, accepts proposals again.
var ErrTransferAbandoned = errors.New("node: leadership transfer abandoned")

// ErrStopped is returned by calls on a node that is stopped or stopping.
var ErrStopped = errors.New("node: stopped")

// ErrImageNotKept is returned by Start when a durable state machine is
// behind the node's latest snapshot and that snapshot holds no image: the
// node relied on the machine to keep its own state (see
// Config.KeepSnapshotImages) and it did not, because its files were
// removed or replaced. The node cannot rebuild the state; remove the
// member, empty its directory and add it again, and the leader catches it
// up with a snapshot.
var ErrImageNotKept = errors.New("node: the state machine lost state that its snapshot does not hold")
