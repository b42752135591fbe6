package raft

import "fmt"

// Ready is a batch of the core's outputs. The runtime handles it in this
// order, then calls Advance:
//
//  1. send SendNow (it may do so at once, in parallel with step 2);
//  2. make Entries and then HardState durable (Entries may replace a
//     suffix of the durable log: every durable entry at or after
//     Entries[0].Index is discarded);
//  3. send SendAfterPersist;
//  4. apply CommittedEntries, in order.
//
// With Config.AsyncPersistence the runtime instead sends both message
// lists and applies at once, queues the write (step 2) and calls Advance;
// it reports the write durable later with Persisted(PersistSequence).
type Ready struct {
	// HardState is the term, vote and commit index to persist; the zero
	// value means unchanged.
	HardState HardState
	// MustSync says whether the write must be durable (fsynced) before
	// SendAfterPersist leaves, CommittedEntries are applied and the Ready
	// is advanced: true when it carries Entries, a Snapshot, or a term or
	// vote that changed. When the HardState changes nothing but the
	// commit index, MustSync is false: the runtime may write it without
	// waiting for it to be durable, since a commit index lost in a crash
	// is learned again from the leader (it must still be written, in
	// order, before later writes). A runtime need not compare HardStates
	// itself.
	MustSync bool
	// Entries are the new log entries to persist.
	Entries []Entry
	// CommittedEntries are committed and not yet applied. Some may be in
	// Entries: apply them only after Entries are durable.
	CommittedEntries []Entry
	// SendNow holds messages that depend on nothing unpersisted.
	//
	// The message lists belong to the core again once Advance is called:
	// it reuses them, so copy any message kept beyond Advance (the
	// Message values; their Entries and data are not reused).
	SendNow []Message
	// SendAfterPersist holds messages that may leave only once HardState
	// and Entries are durable.
	SendAfterPersist []Message
	// Snapshot, if not empty, is a snapshot received from the leader. It
	// replaces the whole log: persist it together with HardState, as one
	// atomic step, before Entries (which follow it); then restore the
	// state machine from it before applying CommittedEntries.
	Snapshot Snapshot
	// ReadStates answer ReadIndex requests: serve each read once the state
	// machine has applied its Index.
	ReadStates []ReadState
	// PersistSequence, with Config.AsyncPersistence, numbers this Ready's
	// write (Snapshot, HardState, Entries); 0 when it has nothing to write.
	// Writes are numbered in the order they must reach the disk; pass the
	// number to Core.Persisted once the write is durable. Always 0 in the
	// synchronous mode.
	PersistSequence uint64
}

// termOrVoteChanged reports whether next differs from previous in what
// must be durable before a node answers anyone: its term or its vote.
func termOrVoteChanged(next, previous HardState) bool {
	return next.Term != previous.Term || next.Vote != previous.Vote
}

// maxApplyBytesPerReady bounds CommittedEntries in one Ready, so that a node
// catching up applies in steps instead of loading its whole log at once.
// What a step costs in memory is a multiple of it: the entries read back
// from the log, and the application's work on them (the kv store's Pebble
// batch holds each value twice). At 64 MiB, a follower that fell behind
// during a bulk load of 1,000,000 keys of 1 KiB reached 1.26 GiB resident,
// its Pebble batches 256 MB of it; at 8 MiB it peaked at 464 MiB, at the
// same load rate (lockstep bench range --key-space 1000000 --val-size 1024,
// 3 members, December 2026).
const maxApplyBytesPerReady = 8 << 20

// HasReady reports whether Ready would return anything.
func (c *Core) HasReady() bool {
	if c.readyOutstanding {
		return false
	}
	if c.config.AsyncPersistence {
		return c.hasReadyAsync()
	}
	return c.broadcastPending || c.log.pendingSnapshot != nil || len(c.readStates) > 0 ||
		len(c.sendNow) > 0 || len(c.sendAfterPersist) > 0 ||
		len(c.log.unstable) > 0 ||
		c.log.hasEntriesToApply() ||
		c.hardState() != c.takenHardState
}

// Ready returns the pending outputs. Until Advance is called, the core
// accepts no input. Call it serialised with the core's other methods (see
// Core).
func (c *Core) Ready() Ready {
	c.checkNoReadyOutstanding("Ready")
	c.flushBroadcast()
	if c.config.AsyncPersistence {
		return c.readyAsync()
	}
	ready := Ready{
		Entries:          c.log.unstable,
		CommittedEntries: c.log.entriesToApply(maxApplyBytesPerReady),
		SendNow:          c.sendNow,
		SendAfterPersist: c.sendAfterPersist,
		ReadStates:       c.readStates,
	}
	if c.log.pendingSnapshot != nil {
		ready.Snapshot = *c.log.pendingSnapshot
	}
	if hardState := c.hardState(); hardState != c.takenHardState {
		ready.HardState = hardState
		ready.MustSync = termOrVoteChanged(hardState, c.takenHardState)
		c.takenHardState = hardState
	}
	ready.MustSync = ready.MustSync || len(ready.Entries) > 0 || !ready.Snapshot.IsEmpty()
	c.sendNow, c.sendAfterPersist, c.readStates = nil, nil, nil // until Advance hands them back
	c.readyOutstanding = true
	return ready
}

// Advance tells the core that the Ready it returned last was handled: its
// Snapshot, HardState and Entries are durable (as far as MustSync asks),
// its messages sent, and its CommittedEntries handed to the application:
// applied, or queued to be applied in order. The core does not need the
// state machine to have applied them yet; it only never hands them out
// again, and counts them applied for SnapshotMetadata. A runtime that
// applies on another goroutine must itself serve reads (ReadStates) only
// once its state machine reached their index. A leader now counts its own
// new entries towards a quorum. With Config.AsyncPersistence it means only
// that the Ready was taken (sent, committed entries handed over, its write
// queued); durability is reported later with Persisted.
func (c *Core) Advance(ready Ready) {
	if !c.readyOutstanding {
		panic("raft: Advance called without an outstanding Ready")
	}
	c.readyOutstanding = false
	// Reuse the message lists for the next Ready (nothing can have been
	// queued since Ready: inputs wait for Advance).
	clear(ready.SendNow)
	clear(ready.SendAfterPersist)
	c.sendNow, c.sendAfterPersist = ready.SendNow[:0], ready.SendAfterPersist[:0]
	if c.config.AsyncPersistence {
		c.recordApplied(ready.CommittedEntries)
		return
	}
	if !ready.HardState.IsEmpty() {
		c.durableHardState = ready.HardState
		c.countOwnVote()
	}
	if !ready.Snapshot.IsEmpty() {
		index := ready.Snapshot.Metadata.Index
		c.log.snapshotPersisted(index)
		if first, err := c.log.storage.FirstIndex(); err != nil || first <= index {
			panic(fmt.Sprintf("raft: Advance: storage starts at %d (%v) but snapshot %d was to be persisted first", first, err, index))
		}
	}
	if n := len(ready.Entries); n > 0 {
		last := ready.Entries[n-1]
		if !c.log.matchTerm(last.Index, last.Term) {
			panic(fmt.Sprintf("raft: Advance: persisted entry %d/%d is not in the log", last.Index, last.Term))
		}
		c.log.stableTo(last.Index)
		// The core forgets its copy now; catch a runtime that did not
		// persist before advancing, before it serves a log with holes.
		if stored, err := c.log.storage.LastIndex(); err != nil || stored < last.Index {
			panic(fmt.Sprintf("raft: Advance: storage holds up to %d (%v) but entry %d was to be persisted first", stored, err, last.Index))
		}
	}
	c.recordApplied(ready.CommittedEntries)
	c.countSelfDurable()
}

// recordApplied notes that a Ready's committed entries were applied.
func (c *Core) recordApplied(applied []Entry) {
	if n := len(applied); n > 0 {
		c.log.applied = applied[n-1].Index
		if c.role == RoleLeader {
			c.releaseUncommitted(applied)
		}
	}
}

// countSelfDurable raises a leader's own match index to its durable log:
// the only way the leader counts itself towards a quorum.
func (c *Core) countSelfDurable() {
	if c.role == RoleLeader {
		self := c.progress[c.id]
		if durable := c.log.durableLastIndex(); durable > self.match {
			self.match = durable
			c.maybeCommit()
		}
	}
}

// releaseUncommitted lowers the leader's count of uncommitted payload.
func (c *Core) releaseUncommitted(applied []Entry) {
	var size uint64
	for _, entry := range applied {
		size += uint64(len(entry.Data))
	}
	c.uncommittedBytes -= min(size, c.uncommittedBytes)
}
