package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// maxBatch bounds how many more queued inputs (peers' messages, callers'
// requests, wakes of the proposal queue) the loop takes before it handles
// a Ready: enough to batch many messages into one write, few enough to
// keep latency low. The proposal queue is taken whole at each wake (one
// entry per waiting caller).
const maxBatch = 1024

// run is the loop: the only goroutine that touches the core.
func (n *Node) run() {
	defer close(n.done)
	// A background snapshot finishes before the node reports it is done,
	// so Stop never closes the log under it.
	defer n.snapshotWork.Wait()
	// The writer stops (after the Save in progress) before the log closes.
	if n.writer != nil {
		defer n.writer.stop()
	}
	// The applier stops (after the job in progress) before the background
	// snapshot is waited for, since a capture starts one, and before the
	// node is done, so the machine is never applied to after Stop.
	go n.applier.run()
	defer n.applier.stop()
	ticker := time.NewTicker(n.config.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-n.stopping:
			return
		case <-ticker.C:
			n.ticks++
			n.core.Tick()
			n.expireReads()
			n.promoteCaughtUpLearners()
		case m := <-n.incoming:
			n.step(m)
		case request := <-n.requests:
			request()
		case <-n.proposals.wake:
			n.takeProposals()
		case id := <-n.unreachable:
			// A broken stream lost what was in flight: the leader probes
			// instead of pipelining into the void.
			n.core.ReportUnreachable(id)
		case <-n.writerNotify():
			if err := n.reportPersisted(); err != nil {
				n.failure = err
				n.log.Error("stopping: storage failed", "error", err)
				return
			}
		case result := <-n.snapshotResults:
			if err := n.finishSnapshot(result); err != nil {
				n.failure = err
				n.log.Error("stopping: storage failed", "error", err)
				return
			}
		}
	inputs:
		for i := 0; i < maxBatch; i++ {
			select {
			case m := <-n.incoming:
				n.step(m)
			case request := <-n.requests:
				request()
			case <-n.proposals.wake:
				n.takeProposals()
			default:
				break inputs
			}
		}
		if err := n.handleReadies(); errors.Is(err, ErrStopped) {
			return // told to stop while waiting for the log's disk
		} else if err != nil {
			n.failure = err
			n.log.Error("stopping: storage failed", "error", err)
			return
		}
		if n.imageWanted {
			// Asked for while the core stepped an input, outside a Ready.
			if err := n.maybeSnapshot(); err != nil {
				n.failure = err
				n.log.Error("stopping: storage failed", "error", err)
				return
			}
		}
		n.noticeChanges()
	}
}

func (n *Node) step(m raft.Message) {
	n.roundTrips.arrived(m)
	if err := n.core.Step(m); err != nil {
		n.badMessages++
		n.log.Warn("dropped a bad message from a peer", "error", err)
	}
}

// handleReadies handles every Ready, in the order of the persistence
// contract (see package raft): send what may leave now, persist, send the
// rest, apply, advance. A storage error is fatal: the node stops rather
// than act on state it could not make durable. That includes a full disk
// (wal.ErrNoSpace) on this synchronous path, where waiting would stop the
// loop; with AsyncPersistence the writer waits for space instead.
func (n *Node) handleReadies() error {
	if n.writer != nil {
		return n.takeReadies()
	}
	for n.core.HasReady() {
		ready := n.core.Ready()
		// A leader's appends leave before its own write: followers write
		// in parallel with it.
		n.roundTrips.leaving(ready.SendNow)
		n.transport.Send(ready.SendNow)
		if !ready.Snapshot.IsEmpty() {
			if err := n.persistSnapshot(ready.Snapshot); err != nil {
				return err
			}
		}
		if len(ready.Entries) > 0 || !ready.HardState.IsEmpty() {
			if err := n.storage.Save(ready.HardState, ready.Entries); err != nil {
				return fmt.Errorf("node %v: write log: %w", n.config.ID, err)
			}
			if len(ready.Entries) > 0 {
				n.stages.wrote(ready.Entries[len(ready.Entries)-1].Index)
			}
		}
		n.transport.Send(ready.SendAfterPersist)
		if err := n.finishReady(ready); err != nil {
			return err
		}
	}
	return nil
}

// finishReady applies a Ready's committed entries, answers its reads,
// advances the core and applies the snapshot policy: the steps after the
// write (or, with AsyncPersistence, after queueing it).
func (n *Node) finishReady(ready raft.Ready) error {
	if err := n.apply(ready.CommittedEntries); err != nil {
		return err
	}
	n.answerReads(ready.ReadStates)
	n.core.Advance(ready)
	return n.maybeSnapshot()
}

// apply hands committed entries to the applier, which applies them to the
// state machine in order and answers the callers waiting for them; the
// runtime's own records it applies itself, at once (the machine never
// sees them). The core counts the entries as applied from here on: the
// machine catches up behind the loop (see applier). On a member that does
// not lead, the loop then waits for a machine far behind; it returns
// ErrStopped if the node stops meanwhile.
func (n *Node) apply(entries []raft.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	var committed time.Time
	if n.stages != nil {
		committed = time.Now()
	}
	var batch []Entry
	var answers []answer
	batchBytes := 0
	for i, entry := range entries {
		resultAt := -1 // the entry's place in batch, if the machine applies it
		switch {
		case entry.Type == raft.EntryNormal && len(entry.Data) > 0 && entry.Data[0] == kindCommand:
			if entry.Index <= n.machineApplied {
				continue // already in a durable machine's state
			}
			size := len(entry.Data) - 1
			if batchBytes > 0 && batchBytes+size > maxMergedBytes {
				// A Ready may commit up to 8 MiB of commands (raft's
				// maxApplyBytesPerReady, in a fill or a replay at start):
				// they go to the applier in jobs of maxMergedBytes at
				// most, for the reason merges stop there. The job ends
				// at the entry before this one.
				n.applier.post(applyJob{commands: batch, answers: answers, lastIndex: entries[i-1].Index})
				batch, answers, batchBytes = nil, nil, 0
			}
			batchBytes += size
			resultAt = len(batch)
			batch = append(batch, Entry{Index: entry.Index, Term: entry.Term, Command: entry.Data[1:]})
		case entry.Type == raft.EntryNormal && len(entry.Data) > 0 && entry.Data[0] == kindPeerAddress:
			if id, address, err := decodePeerAddress(entry.Data); err == nil {
				n.addresses[id] = address
				if id != n.config.ID {
					n.transport.SetPeer(id, address)
				}
			} else {
				n.log.Error("skipping a malformed runtime record", "index", entry.Index, "error", err)
			}
		case entry.Type == raft.EntryNormal && len(entry.Data) > 0 && entry.Data[0] == kindPromotion:
			if id, err := decodePromotion(entry.Data); err == nil {
				n.promotions[id] = true
			} else {
				n.log.Error("skipping a malformed runtime record", "index", entry.Index, "error", err)
			}
		case entry.Type == raft.EntryMembership:
			n.forgetRemovedPeers()
			n.noteCommittedMembership(entry)
			n.forgetSettledPromotions()
		}
		if waiting := n.takeWaiter(entry.Index, entry.Term); waiting != nil {
			if n.stages != nil {
				waiting.times.Persisted, waiting.times.Committed = n.stages.persistedAt(entry.Index), committed
			}
			answers = append(answers, answer{waiting: waiting, result: resultAt})
		}
	}
	n.applied = entries[len(entries)-1].Index
	n.stages.appliedUpTo(n.applied)
	n.applier.post(applyJob{commands: batch, answers: answers, lastIndex: n.applied})
	if n.core.Summary().Role == raft.RoleLeader {
		// A leader's entries are its own proposals, held back before they
		// reach the loop (waitForRoom); those already past that check can
		// take its backlog beyond any bound, but each holds its command in
		// memory anyway. Its loop must not wait: that would stop its
		// heartbeats, and cost the leadership the applier keeps.
		return nil
	}
	return n.applier.waitForMachine(n.stopping)
}

// answer is a proposer to answer once its entry is applied: with the
// machine's result at index result of the batch, or none (-1) for an
// entry the machine does not see.
type answer struct {
	waiting *waiter
	result  int
}

// noteCommittedMembership notes who was removed (this node included: see
// Removed) by the configuration of an applied, hence committed, entry. The
// core's configuration takes effect when appended and may still be
// truncated away, so it is not the judge of a removal.
func (n *Node) noteCommittedMembership(entry raft.Entry) {
	membership, err := raft.DecodeMembership(entry.Data)
	if err != nil {
		n.log.Error("skipping a malformed membership entry", "index", entry.Index, "error", err)
		return
	}
	if n.removals.observe(membership, n.config.ID) {
		n.NoteRemoved()
	}
}

// forgetRemovedPeers stops sending to nodes no longer in the membership.
func (n *Node) forgetRemovedPeers() {
	membership := n.core.Membership()
	for id := range n.addresses {
		member := false
		for _, list := range [][]raft.NodeID{membership.Voters, membership.OutgoingVoters, membership.Learners} {
			for _, other := range list {
				member = member || other == id
			}
		}
		if !member && id != n.config.ID {
			n.transport.RemovePeer(id)
		}
	}
}

// takeWaiter returns the caller waiting for the entry at index, if any,
// and forgets it. A caller whose entry lost its slot to another leader's
// entry (another term) is answered with ErrDropped at once, and nil is
// returned.
func (n *Node) takeWaiter(index, term uint64) *waiter {
	waiting, ok := n.waiters[index]
	if !ok {
		return nil
	}
	delete(n.waiters, index)
	if waiting.term != term {
		waiting.done <- outcome{err: ErrDropped}
		return nil
	}
	return waiting
}
