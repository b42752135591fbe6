package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

func background() context.Context { return context.Background() }

// translate turns the core's errors into the runtime's.
func (n *Node) translate(err error) error {
	var notLeader *raft.NotLeaderError
	switch {
	case errors.As(err, &notLeader):
		return &NotLeaderError{Leader: notLeader.Leader, Address: n.addresses[notLeader.Leader]}
	case errors.Is(err, raft.ErrProposalDropped), errors.Is(err, raft.ErrTransferInProgress):
		return fmt.Errorf("%w: %v", ErrDropped, err)
	}
	return err
}

// Propose replicates command and returns the state machine's result for it,
// once it is applied on this node, which must be the leader (otherwise a
// *NotLeaderError names the leader). If ctx ends after the leader accepted
// the command, it returns ErrMaybeCommitted: the command may still apply.
// ErrDropped means it certainly will not.
func (n *Node) Propose(ctx context.Context, command []byte) (Result, error) {
	if n.config.MaxProposalBytes >= 0 && len(command) > n.config.MaxProposalBytes {
		return nil, fmt.Errorf("node: command of %d bytes exceeds MaxProposalBytes %d", len(command), n.config.MaxProposalBytes)
	}
	return n.proposeEntry(ctx, func() (uint64, uint64, error) { return n.core.Propose(encodeCommand(command)) })
}

// proposeEntry runs propose on the loop and waits for the entry it appended
// to be applied.
func (n *Node) proposeEntry(ctx context.Context, propose func() (uint64, uint64, error)) (Result, error) {
	// A leader's machine far behind (a store that stopped taking writes)
	// holds new proposals back: the backlog of committed entries stays
	// bounded. A follower's proposers are not held: the core tells them
	// at once where the leader is (the server forwards their calls there),
	// and neither are those of a leader that steps down while they wait
	// (told it no longer leads; who does, once it knows).
	if tenure := n.tenure.Load(); tenure != nil {
		if err := n.applier.waitForRoom(ctx, tenure.ended); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	proposal := &waiter{propose: propose, done: make(chan outcome, 1)}
	if n.config.ObserveProposal != nil {
		proposal.submitted = time.Now()
	}
	n.proposals.push(proposal)
	select {
	case result := <-proposal.done:
		return result.result, result.err
	case <-ctx.Done():
		if proposal.withdraw() {
			return nil, ctx.Err() // the loop never saw it
		}
		select {
		case result := <-proposal.done:
			return result.result, result.err // answered meanwhile
		default:
			return nil, fmt.Errorf("%w (%v)", ErrMaybeCommitted, ctx.Err())
		}
	case <-n.done:
		return nil, ErrStopped
	}
}

// Read is a linearizable read barrier: when it returns nil, the state
// machine on this node reflects every command committed before Read was
// called, so reading it locally is linearizable. It works on followers (the
// leader confirms the read index). While no leader is known it waits for
// one; a request that gets no answer within an election timeout is retried,
// until ctx ends.
func (n *Node) Read(ctx context.Context) error {
	for {
		done := make(chan error, 1)
		var readErr error
		if err := n.do(ctx, func() {
			key := newReadContext()
			if err := n.core.ReadIndex([]byte(key)); err != nil {
				readErr = n.translate(err)
				return
			}
			n.reads[key] = pendingRead{done: done, registered: n.ticks}
		}); err != nil {
			return err
		}
		wait := n.electionTimeout()
		var notLeader *NotLeaderError
		switch {
		case errors.As(readErr, &notLeader) && notLeader.Leader == raft.None:
			// No leader known yet (an election, or we just started):
			// try again in a tick.
			wait = n.config.TickInterval
		case readErr != nil:
			return readErr
		}
		timer := time.NewTimer(wait)
		select {
		case err := <-done:
			timer.Stop()
			if !errors.Is(err, errRetryRead) {
				return err
			}
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-n.done:
			timer.Stop()
			return ErrStopped
		}
	}
}

// AddLearner adds a node that receives the log without voting, listening on
// address, and returns once the change is applied here. Start the new node
// with Config.Join; promote it with Promote once it has caught up.
func (n *Node) AddLearner(ctx context.Context, id raft.NodeID, address string) error {
	// First replicate the address, so every member can reach the learner.
	if err := n.UpdateAddress(ctx, id, address); err != nil {
		return err
	}
	return n.changeMembership(ctx, raft.MembershipChange{Kind: raft.AddLearner, Node: id})
}

// Promote makes a caught-up learner a voter, through joint consensus. It
// returns once this node has left the joint configuration (the leader moves
// to the new configuration by itself). If another change is in progress it
// waits for it first.
func (n *Node) Promote(ctx context.Context, id raft.NodeID) error {
	return n.changeMembership(ctx, raft.MembershipChange{Kind: raft.AddVoter, Node: id})
}

// Remove removes a voter or learner. A removed leader hands over and steps
// down once the new configuration commits.
func (n *Node) Remove(ctx context.Context, id raft.NodeID) error {
	return n.changeMembership(ctx, raft.MembershipChange{Kind: raft.RemoveNode, Node: id})
}

// changeMembership proposes changes, waiting (tick by tick) while an
// earlier change is still in progress, and returns once the cluster has
// left the joint configuration, as seen from this node.
func (n *Node) changeMembership(ctx context.Context, changes ...raft.MembershipChange) error {
	for {
		_, err := n.proposeEntry(ctx, func() (uint64, uint64, error) { return n.core.ProposeMembershipChange(changes...) })
		if !errors.Is(err, raft.ErrMembershipChangeInProgress) {
			if err != nil {
				return err
			}
			break
		}
		if err := n.sleep(ctx, n.config.TickInterval); err != nil {
			return err
		}
	}
	for {
		status, err := n.Status(ctx)
		if err != nil {
			return err
		}
		if len(status.Membership.OutgoingVoters) == 0 {
			return nil
		}
		if err := n.sleep(ctx, n.config.TickInterval); err != nil {
			return err
		}
	}
}

// sleep waits for d, unless ctx ends or the node stops first.
func (n *Node) sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// TransferLeadership hands leadership to target and returns once this node
// sees target lead, or ctx ends. Proposals are refused meanwhile. If the
// leader gives the transfer up (target did not take over within an
// election timeout) or another node takes over, it returns an error
// wrapping ErrTransferAbandoned.
func (n *Node) TransferLeadership(ctx context.Context, target raft.NodeID) error {
	events, cancel := n.Subscribe(16)
	defer cancel()
	var transferErr error
	if err := n.do(ctx, func() { transferErr = n.translate(n.core.TransferLeadership(target)) }); err != nil {
		return err
	}
	if transferErr != nil {
		return transferErr
	}
	// The core abandons a transfer after an election timeout without
	// publishing anything, so the status is also looked at every tick.
	ticker := time.NewTicker(n.config.TickInterval)
	defer ticker.Stop()
	for {
		status, err := n.Status(ctx)
		switch {
		case err != nil:
			return err
		case status.Leader == target:
			return nil
		case status.Role == raft.RoleLeader && status.Transferring != target:
			return fmt.Errorf("%w: node %v did not take over within an election timeout", ErrTransferAbandoned, target)
		case status.Role != raft.RoleLeader && status.Leader != raft.None:
			return fmt.Errorf("%w: node %v leads instead of node %v", ErrTransferAbandoned, status.Leader, target)
		}
		select {
		case <-events:
		case <-ticker.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.done:
			return ErrStopped
		}
	}
}

// Status is a node's view of the cluster.
type Status struct {
	raft.Status
	// Applied is the last index applied to the state machine.
	Applied uint64
	// FirstIndex is the first index still in the log: entries before it
	// were compacted into a snapshot.
	FirstIndex uint64
	// Membership is the configuration in effect on this node.
	Membership raft.Membership
	// LeaderAddress is the leader's peer address, if known.
	LeaderAddress string
	// DroppedMessages counts peer messages dropped because the loop was
	// behind; BadMessages those refused as malformed or misaddressed.
	DroppedMessages uint64
	BadMessages     uint64
}

// Status returns the node's role, term, leader, commit and applied index,
// membership, and on the leader each follower's progress.
func (n *Node) Status(ctx context.Context) (Status, error) {
	var status Status
	err := n.do(ctx, func() {
		status = Status{Status: n.core.Status(), Applied: n.applier.applied.Load(), Membership: n.core.Membership()}
		status.FirstIndex, _ = n.storage.FirstIndex()
		status.LeaderAddress = n.addresses[status.Leader]
		status.DroppedMessages = n.dropped.Load()
		status.BadMessages = n.badMessages
	})
	return status, err
}
