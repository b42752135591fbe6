package raft

import "fmt"

// Asynchronous persistence (Config.AsyncPersistence): the runtime takes a
// Ready, queues its write and calls Advance at once; it reports the write
// durable later with Persisted. The core keeps every rule of the
// synchronous model by deciding on durable state only:
//
//   - the leader counts itself for an entry only once Persisted covers it;
//   - a message that must follow persistence (SendAfterPersist) is held,
//     tagged with the last write handed out when it was taken, and released
//     in a later Ready once Persisted reaches that write;
//   - committed entries are delivered only once durable locally;
//   - entries stay in the core's memory (unstable) until durable.
//
// A follower's log may be truncated while an earlier write is in flight.
// Each write records the last index it made durable; a truncation at index
// i clips every write in flight to i-1, since what it wrote from i on is no
// longer the core's log. A Persisted for such a write therefore makes only
// the still-matching prefix durable: a stale acknowledgement of replaced
// entries is ignored.

// pendingWrite is one Ready's write, handed out and not yet durable.
type pendingWrite struct {
	sequence uint64
	// last is the last log index this write makes durable and that the
	// log still holds as written (clipped on truncation); 0 if none.
	last uint64
	// hardState is the hard state written, or empty.
	hardState HardState
	// snapshotIndex is the index of the snapshot written, or 0.
	snapshotIndex uint64
}

// heldMessage is a message that may leave once write sequence is durable.
type heldMessage struct {
	sequence uint64
	message  Message
}

// clipWrites records that the log was replaced from index first on: no
// write in flight makes anything at or after first durable any more, and
// the entries from first on are to be handed out again.
func (l *raftLog) clipWrites(first uint64) {
	l.takenThrough = min(l.takenThrough, first-1)
	for i := range l.writes {
		l.writes[i].last = min(l.writes[i].last, first-1)
	}
}

// entriesToTake returns the unstable entries not yet handed out.
func (l *raftLog) entriesToTake() []Entry {
	from := max(l.unstableOffset, l.takenThrough+1)
	if from-l.unstableOffset >= uint64(len(l.unstable)) {
		return nil
	}
	return l.unstable[from-l.unstableOffset:]
}

// hasReadyAsync is HasReady with asynchronous persistence.
func (c *Core) hasReadyAsync() bool {
	return c.broadcastPending || (c.log.pendingSnapshot != nil && !c.log.snapshotTaken) ||
		len(c.readStates) > 0 || len(c.sendNow) > 0 || len(c.sendAfterPersist) > 0 || len(c.released) > 0 ||
		len(c.log.entriesToTake()) > 0 ||
		c.log.hasEntriesToApply() ||
		c.hardState() != c.takenHardState
}

// readyAsync is Ready with asynchronous persistence: it hands out what is
// new since the last Ready, numbers the write, holds the messages that
// depend on unpersisted state and releases those whose write is durable.
func (c *Core) readyAsync() Ready {
	ready := Ready{
		Entries:          c.log.entriesToTake(),
		CommittedEntries: c.log.entriesToApply(maxApplyBytesPerReady),
		SendNow:          c.sendNow,
		ReadStates:       c.readStates,
	}
	write := pendingWrite{}
	if snapshot := c.log.pendingSnapshot; snapshot != nil && !c.log.snapshotTaken {
		ready.Snapshot = *snapshot
		c.log.snapshotTaken = true
		write.snapshotIndex = snapshot.Metadata.Index
	}
	if hardState := c.hardState(); hardState != c.takenHardState {
		ready.HardState = hardState
		ready.MustSync = termOrVoteChanged(hardState, c.takenHardState)
		c.takenHardState = hardState
		write.hardState = hardState
	}
	ready.MustSync = ready.MustSync || len(ready.Entries) > 0 || !ready.Snapshot.IsEmpty()
	if n := len(ready.Entries); n > 0 {
		write.last = ready.Entries[n-1].Index
		c.log.takenThrough = write.last
	}
	if write.last != 0 || !write.hardState.IsEmpty() || write.snapshotIndex != 0 {
		c.writeSequence++
		write.sequence = c.writeSequence
		ready.PersistSequence = write.sequence
		c.log.writes = append(c.log.writes, write)
	}
	// Every message queued so far depends at most on the state handed out
	// by now: it may leave once the last write handed out is durable.
	for _, m := range c.sendAfterPersist {
		c.held = append(c.held, heldMessage{sequence: c.writeSequence, message: m})
	}
	clear(c.sendAfterPersist)
	c.sendAfterPersist = c.sendAfterPersist[:0]
	c.releaseHeld()
	ready.SendAfterPersist = c.released
	c.sendNow, c.released, c.readStates = nil, nil, nil // until Advance hands them back
	c.readyOutstanding = true
	return ready
}

// releaseHeld moves the held messages whose write is durable to released.
// Tags never decrease along held, so the released ones are a prefix.
func (c *Core) releaseHeld() {
	count := 0
	for count < len(c.held) && c.held[count].sequence <= c.persistedSequence {
		c.released = append(c.released, c.held[count].message)
		count++
	}
	if count > 0 {
		c.held = append(c.held[:0], c.held[count:]...)
	}
}

// Persisted reports that the write of the Ready numbered sequence
// (Ready.PersistSequence), and so every earlier one, is durable. Writes must
// reach the disk in sequence order; a sequence at or below one already
// reported changes nothing. It is an input like Step: call it serialised
// with the core's other methods (see Core), not between Ready and Advance, and only
// with Config.AsyncPersistence. A leader now counts its durable entries,
// a candidate its durable vote, and held messages leave in the next Ready.
func (c *Core) Persisted(sequence uint64) {
	c.checkNoReadyOutstanding("Persisted")
	if !c.config.AsyncPersistence {
		panic("raft: Persisted called without Config.AsyncPersistence")
	}
	if sequence > c.writeSequence {
		panic(fmt.Sprintf("raft: Persisted(%d): only %d writes were handed out", sequence, c.writeSequence))
	}
	if sequence <= c.persistedSequence {
		return
	}
	hardStateDurable := false
	count := 0
	for ; count < len(c.log.writes) && c.log.writes[count].sequence <= sequence; count++ {
		write := c.log.writes[count]
		if write.snapshotIndex != 0 {
			c.snapshotDurable(write.snapshotIndex)
		}
		if !write.hardState.IsEmpty() {
			c.durableHardState = write.hardState
			hardStateDurable = true
		}
		if write.last >= c.log.unstableOffset {
			c.entriesDurable(write.last)
		}
	}
	c.log.writes = append(c.log.writes[:0], c.log.writes[count:]...)
	c.persistedSequence = sequence
	c.releaseHeld()
	if hardStateDurable {
		c.countOwnVote()
	}
	c.countSelfDurable()
}

// snapshotDurable records that a snapshot handed out is durable, unless a
// newer snapshot has replaced it as pending since.
func (c *Core) snapshotDurable(index uint64) {
	pending := c.log.pendingSnapshot
	if pending == nil || !c.log.snapshotTaken || pending.Metadata.Index != index {
		return
	}
	if first, err := c.log.storage.FirstIndex(); err != nil || first <= index {
		panic(fmt.Sprintf("raft: Persisted: storage starts at %d (%v) but snapshot %d was reported durable", first, err, index))
	}
	c.log.snapshotPersisted(index)
}

// entriesDurable records that the log up to last is durable. The core then
// forgets its copy, so it first checks that storage really holds the entry
// (catching a runtime that reports a write it did not make).
func (c *Core) entriesDurable(last uint64) {
	term, err := c.log.term(last)
	mustStorage(err)
	if stored, err := c.log.storage.Term(last); err != nil || stored != term {
		panic(fmt.Sprintf("raft: Persisted: storage holds term %d (%v) at %d but entry %d/%d was reported durable", stored, err, last, last, term))
	}
	c.log.stableTo(last)
}
