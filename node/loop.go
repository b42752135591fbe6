package node

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// maxBatch bounds how many queued inputs the loop takes before it handles a
// Ready: enough to batch many proposals into one write, few enough to keep
// latency low.
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
			default:
				break inputs
			}
		}
		if err := n.handleReadies(); err != nil {
			n.failure = err
			n.log.Error("stopping: storage failed", "error", err)
			return
		}
		n.noticeChanges()
	}
}

func (n *Node) step(m raft.Message) {
	if err := n.core.Step(m); err != nil {
		n.badMessages++
		n.log.Warn("dropped a bad message from a peer", "error", err)
	}
}

// handleReadies handles every Ready, in the order of the persistence
// contract (see package raft): send what may leave now, persist, send the
// rest, apply, advance. A storage error is fatal: the node stops rather
// than act on state it could not make durable.
func (n *Node) handleReadies() error {
	if n.writer != nil {
		return n.takeReadies()
	}
	for n.core.HasReady() {
		ready := n.core.Ready()
		// A leader's appends leave before its own write: followers write
		// in parallel with it.
		n.transport.Send(ready.SendNow)
		if !ready.Snapshot.IsEmpty() {
			if err := n.persistSnapshot(ready.Snapshot); err != nil {
				return err
			}
		}
		if len(ready.Entries) > 0 || !ready.HardState.IsEmpty() {
			start := time.Now()
			if err := n.storage.Save(ready.HardState, ready.Entries); err != nil {
				return fmt.Errorf("node %d: write log: %w", n.config.ID, err)
			}
			if n.config.ObservePersist != nil {
				n.config.ObservePersist(time.Since(start))
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
	n.apply(ready.CommittedEntries)
	n.answerReads(ready.ReadStates)
	n.core.Advance(ready)
	return n.maybeSnapshot()
}

// persistSnapshot makes a snapshot from the leader durable, then restores
// the state machine from it.
//
// A snapshot without data was streamed by the transport into a staged file
// of the snapshot store (see SnapshotStreamer); installing that file takes
// the place of saving the data.
func (n *Node) persistSnapshot(snapshot raft.Snapshot) error {
	if snapshot.Data == nil {
		if err := n.snapshots.Install(snapshot.Metadata); err != nil {
			return fmt.Errorf("node %d: install received snapshot %d: %w", n.config.ID, snapshot.Metadata.Index, err)
		}
	} else if err := n.snapshots.Save(snapshot); err != nil {
		return fmt.Errorf("node %d: save snapshot %d: %w", n.config.ID, snapshot.Metadata.Index, err)
	}
	if err := n.storage.ApplySnapshot(snapshot); err != nil {
		return fmt.Errorf("node %d: install snapshot %d in the log: %w", n.config.ID, snapshot.Metadata.Index, err)
	}
	if err := n.installSnapshot(snapshot); err != nil {
		return err
	}
	for id, address := range n.addresses {
		if id != n.config.ID {
			n.transport.SetPeer(id, address)
		}
	}
	n.lastSnapshot = snapshot.Metadata.Index
	n.previousSnapshot = snapshot.Metadata
	n.publish(Event{Kind: SnapshotInstalled, Index: snapshot.Metadata.Index})
	return nil
}

// apply hands committed entries to the state machine in order, runtime
// records to the runtime, and answers the callers waiting for them.
func (n *Node) apply(entries []raft.Entry) {
	var batch []Entry
	flush := func() {
		if len(batch) == 0 {
			return
		}
		results := n.machine.Apply(batch)
		for i, entry := range batch {
			var result Result
			if i < len(results) {
				result = results[i]
			}
			n.complete(entry.Index, entry.Term, result)
		}
		batch = batch[:0]
	}
	for _, entry := range entries {
		switch {
		case entry.Type == raft.EntryNormal && len(entry.Data) > 0 && entry.Data[0] == kindCommand:
			if entry.Index <= n.machineApplied {
				continue // already in a durable machine's state
			}
			batch = append(batch, Entry{Index: entry.Index, Term: entry.Term, Command: entry.Data[1:]})
			continue
		case entry.Type == raft.EntryNormal && len(entry.Data) > 0 && entry.Data[0] == kindPeerAddress:
			flush()
			if id, address, err := decodePeerAddress(entry.Data); err == nil {
				n.addresses[id] = address
				if id != n.config.ID {
					n.transport.SetPeer(id, address)
				}
			} else {
				n.log.Error("skipping a malformed runtime record", "index", entry.Index, "error", err)
			}
		case entry.Type == raft.EntryNormal && len(entry.Data) > 0 && entry.Data[0] == kindPromotion:
			flush()
			if id, err := decodePromotion(entry.Data); err == nil {
				n.promotions[id] = true
			} else {
				n.log.Error("skipping a malformed runtime record", "index", entry.Index, "error", err)
			}
		case entry.Type == raft.EntryMembership:
			flush()
			n.forgetRemovedPeers()
			n.forgetSettledPromotions()
		default:
			flush() // a leader's empty entry
		}
		n.complete(entry.Index, entry.Term, nil)
	}
	flush()
	if len(entries) > 0 {
		n.applied = entries[len(entries)-1].Index
		n.releaseApplied()
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

// complete answers the caller waiting for index, if any: with the result if
// its entry is the one applied there, with ErrDropped if another leader's
// entry took the slot.
func (n *Node) complete(index, term uint64, result Result) {
	waiting, ok := n.waiters[index]
	if !ok {
		return
	}
	delete(n.waiters, index)
	if waiting.term != term {
		waiting.done <- outcome{err: ErrDropped}
		return
	}
	waiting.done <- outcome{result: result}
}

var errRetryRead = errors.New("node: read must be retried")

// answerReads releases reads whose read index is applied; the others are
// answered once the state machine catches up (checked after each apply).
func (n *Node) answerReads(states []raft.ReadState) {
	for _, state := range states {
		read, ok := n.reads[string(state.Context)]
		if !ok {
			continue
		}
		delete(n.reads, string(state.Context))
		done := read.done
		if state.Index <= n.applied {
			done <- nil
			continue
		}
		n.waitForApplied(state.Index, done)
	}
}

// pendingRead is a read barrier waiting for its read index: the caller
// waits on done, and registered is the tick it was asked at.
type pendingRead struct {
	done       chan error
	registered uint64
}

// expireReads forgets read barriers unanswered for two election timeouts.
// Read gives up on a barrier after one (the request or its answer may
// have been lost) and asks again under a new context, so without this a
// follower cut off from a stable leader would keep every abandoned
// registration until the leader changed. A caller still waiting is told
// to retry.
func (n *Node) expireReads() {
	for key, read := range n.reads {
		if n.ticks-read.registered >= 2*uint64(n.config.ElectionTicks) {
			read.done <- errRetryRead
			delete(n.reads, key)
		}
	}
}

// waitForApplied answers done once the state machine reaches index.
func (n *Node) waitForApplied(index uint64, done chan error) {
	n.pendingApplies = append(n.pendingApplies, pendingApply{index: index, done: done})
}

type pendingApply struct {
	index uint64
	done  chan error
}

// releaseApplied answers reads waiting for an index now applied.
func (n *Node) releaseApplied() {
	kept := n.pendingApplies[:0]
	for _, pending := range n.pendingApplies {
		if pending.index <= n.applied {
			pending.done <- nil
		} else {
			kept = append(kept, pending)
		}
	}
	n.pendingApplies = kept
}

// maybeSnapshot starts capturing the state machine when the snapshot
// policy says so. The loop only takes a consistent view (the machine's
// Snapshot, the snapshot metadata, copies of the address book and pending
// promotions); reading the image, saving it and compacting the log happen
// in the background (see snapshotInBackground), so a large store never
// stalls replication. One capture runs at a time.
func (n *Node) maybeSnapshot() error {
	if n.snapshotting || n.config.SnapshotEntries < 0 || n.applied < n.lastSnapshot+uint64(n.config.SnapshotEntries) {
		return nil
	}
	metadata, err := n.core.SnapshotMetadata(n.applied)
	if err != nil {
		return nil // nothing to capture at this index
	}
	reader, err := n.machine.Snapshot()
	if err != nil {
		n.log.Error("state machine snapshot failed; will retry", "error", err)
		return nil
	}
	n.snapshotting = true
	book, promotions := maps.Clone(n.addresses), maps.Clone(n.promotions)
	previous := n.previousSnapshot
	n.snapshotWork.Go(func() {
		n.snapshotResults <- n.snapshotInBackground(metadata, previous, book, promotions, reader)
	})
	return nil
}

// snapshotResult is what a background capture reports to the loop.
type snapshotResult struct {
	metadata raft.SnapshotMetadata
	index    uint64
	// err is a failed write of the snapshot or the log: fatal.
	err error
	// retry is set when the image could not be read: try again later.
	retry bool
}

// snapshotInBackground reads the image, saves the snapshot and compacts
// the log to the previous snapshot (see compactionPoint). Runs on its own
// goroutine; touches only the snapshot store and the log, which are safe
// for concurrent use.
func (n *Node) snapshotInBackground(metadata, previous raft.SnapshotMetadata, book addressBook, promotions map[raft.NodeID]bool, reader io.ReadCloser) snapshotResult {
	// The image streams into the snapshot file behind the runtime's
	// header: a large store is never held whole in memory.
	image := &imageReader{reader: reader}
	err := n.snapshots.SaveFrom(metadata, encodeSnapshotHeader(book, promotions), image)
	reader.Close()
	if image.err != nil {
		// The state machine failed, not the disk: nothing was saved; the
		// policy tries again later.
		n.log.Error("reading state machine snapshot failed; will retry", "error", image.err)
		return snapshotResult{index: metadata.Index, retry: true}
	}
	if err != nil {
		return snapshotResult{index: metadata.Index, err: fmt.Errorf("node %d: save snapshot %d: %w", n.config.ID, metadata.Index, err)}
	}
	if previous.Index <= n.storage.Log().SnapshotMetadata().Index {
		return snapshotResult{metadata: metadata, index: metadata.Index}
	}
	// The log keeps the entries after the previous snapshot, not only those
	// after this one: a follower up to a snapshot interval behind catches
	// up from the log, and one caught up by a snapshot finds the entries
	// after it even if the leader snapshots again while it installs (with
	// the log compacted to the newest snapshot, a follower whose install
	// takes longer than the leader takes to write an interval would never
	// catch up). etcd keeps catch-up entries for the same reason. The log
	// loads a snapshot's data from its file when needed; the store keeps
	// the newest three files.
	point := raft.Snapshot{Metadata: previous}
	// A newer snapshot from the leader may have been installed meanwhile:
	// then there is nothing left to compact.
	if err := n.storage.Compact(point); err != nil && !errors.Is(err, raft.ErrSnapshotOutOfDate) {
		return snapshotResult{index: metadata.Index, err: fmt.Errorf("node %d: compact log at %d: %w", n.config.ID, previous.Index, err)}
	}
	return snapshotResult{metadata: metadata, index: metadata.Index}
}

// imageReader remembers an error of the state machine's image, so that it
// is told apart from a failure to write the snapshot file.
type imageReader struct {
	reader io.Reader
	err    error
}

func (r *imageReader) Read(buffer []byte) (int, error) {
	n, err := r.reader.Read(buffer)
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = err
	}
	return n, err
}

// finishSnapshot records a background capture's outcome, on the loop.
func (n *Node) finishSnapshot(result snapshotResult) error {
	n.snapshotting = false
	if result.retry {
		return nil
	}
	if result.err != nil {
		return result.err
	}
	n.lastSnapshot = max(n.lastSnapshot, result.index)
	if result.index > n.previousSnapshot.Index {
		n.previousSnapshot = result.metadata
	}
	// A received snapshot at or below what is applied can no longer be
	// accepted (the core takes only one above its commit index): its staged
	// file would otherwise wait for the next install or restart.
	n.snapshots.DiscardStaged(n.applied)
	n.publish(Event{Kind: SnapshotTaken, Index: result.index})
	return nil
}
