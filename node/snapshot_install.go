package node

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
)

// persistSnapshot makes a snapshot from the leader durable, then restores
// the state machine from it.
//
// A snapshot without data was streamed by the transport into a staged file
// of the snapshot store (see SnapshotStreamer); installing that file takes
// the place of saving the data.
func (n *Node) persistSnapshot(snapshot raft.Snapshot) error {
	// The machine is replaced only once it has done the work handed to it
	// before (applies, reads, a capture). Waited for before anything is
	// written, so that a node stopped meanwhile starts again as it was.
	if err := n.applier.drain(n.stopping); err != nil {
		return fmt.Errorf("node %v: install snapshot %d: %w", n.config.ID, snapshot.Metadata.Index, err)
	}
	if snapshot.Data != nil {
		// Checked before anything is written, so that a node that must
		// stop on a snapshot it cannot use starts again as it was.
		if _, _, _, err := decodeSnapshot(snapshot.Data); err != nil {
			return fmt.Errorf("node %v: snapshot %d from the leader: %w", n.config.ID, snapshot.Metadata.Index, err)
		}
	}
	// A full disk pauses each step until space returns (untilSpace).
	if snapshot.Data == nil {
		if err := n.untilSpace(func() error { return n.snapshots.Install(snapshot.Metadata) }); err != nil {
			return fmt.Errorf("node %v: install received snapshot %d: %w", n.config.ID, snapshot.Metadata.Index, err)
		}
	} else if err := n.untilSpace(func() error { return n.snapshots.Save(snapshot) }); err != nil {
		return fmt.Errorf("node %v: save snapshot %d: %w", n.config.ID, snapshot.Metadata.Index, err)
	}
	if err := n.untilSpace(func() error { return n.storage.ApplySnapshot(snapshot) }); err != nil {
		return fmt.Errorf("node %v: install snapshot %d in the log: %w", n.config.ID, snapshot.Metadata.Index, err)
	}
	// A durable machine writes as it restores: on a full disk it fails
	// and keeps its old state (the contract of Restore), so it waits for
	// space like the steps before it rather than stop the node.
	if err := n.untilSpace(func() error { return n.installSnapshot(snapshot) }); err != nil {
		return err
	}
	n.applier.applied.Store(snapshot.Metadata.Index)
	for id, address := range n.addresses {
		if id != n.config.ID {
			n.transport.SetPeer(id, address)
		}
	}
	n.lastSnapshot = snapshot.Metadata.Index
	n.previousSnapshot, n.imageSnapshot = snapshot.Metadata, snapshot.Metadata
	n.answerCoveredWaiters(snapshot.Metadata.Index)
	n.publish(Event{Kind: SnapshotInstalled, Index: snapshot.Metadata.Index})
	return nil
}

// answerCoveredWaiters answers the callers waiting for entries at or below
// an installed snapshot's index (a leader deposed while they were in
// flight): those entries will never be applied here one by one. Whether
// each was committed, and with what result, the snapshot does not say, so
// they get ErrMaybeCommitted now rather than when their context ends.
func (n *Node) answerCoveredWaiters(index uint64) {
	for waiting, waiter := range n.waiters {
		if waiting <= index {
			waiter.done <- outcome{err: fmt.Errorf("%w: a snapshot from the leader covers its entry %d", ErrMaybeCommitted, waiting)}
			delete(n.waiters, waiting)
		}
	}
}

// installSnapshot restores the state machine and address book from a
// snapshot: from its data if it carries any, otherwise from its file in
// the snapshot store (a snapshot streamed in by the transport, or the
// node's own at start).
func (n *Node) installSnapshot(snapshot raft.Snapshot) error {
	if snapshot.Data == nil {
		// Streamed in by the transport: snap.Store.Install verified the
		// file before it moved it into place.
		header, err := n.readSnapshotFile(snapshot.Metadata, snapshotFileRead{restoreInto: n.machine, alreadyVerified: true})
		if err != nil {
			return err
		}
		n.addresses, n.promotions = header.book, header.promotions
	} else {
		book, promotions, image, err := decodeSnapshot(snapshot.Data)
		if err != nil {
			return fmt.Errorf("node %v: snapshot %d: %w", n.config.ID, snapshot.Metadata.Index, err)
		}
		if err := n.machine.Restore(bytes.NewReader(image)); err != nil {
			return fmt.Errorf("node %v: restore state machine from snapshot %d: %w", n.config.ID, snapshot.Metadata.Index, err)
		}
		n.addresses, n.promotions = book, promotions
	}
	n.applied = snapshot.Metadata.Index
	// The machine now holds the snapshot's state, no more: entries after
	// it must reach it even if, before, it held some of them (a durable
	// machine ahead of the commit index this node knew).
	n.machineApplied = min(n.machineApplied, snapshot.Metadata.Index)
	return nil
}

// snapshotFileRead says what readSnapshotFile does besides decoding the
// runtime's header. The zero value verifies the file and restores nothing.
type snapshotFileRead struct {
	// restoreInto, if not nil, is restored from the file's image.
	restoreInto StateMachine
	// onlyIfBehind restores restoreInto only if it does not hold the
	// snapshot's state already: if machineApplied, its AppliedIndex, is
	// below the snapshot's index (or, for a snapshot whose state the
	// machine keeps, below the index it held then).
	onlyIfBehind   bool
	machineApplied uint64
	// alreadyVerified skips the verifying pass: the caller has just read
	// the same file through (snapshotAheadOfLog, snap.Store.Install).
	alreadyVerified bool
}

// readSnapshotFile is the package's readSnapshotFile on the node's store,
// with the node's ID in its errors.
func (n *Node) readSnapshotFile(metadata raft.SnapshotMetadata, read snapshotFileRead) (snapshotHeader, error) {
	header, err := readSnapshotFile(n.snapshots, metadata, read)
	if err != nil {
		return snapshotHeader{}, fmt.Errorf("node %v: %w", n.config.ID, err)
	}
	return header, nil
}

// readSnapshotFile reads the snapshot store's file for metadata without
// holding it in memory: a first pass verifies its checksum (unless
// read.alreadyVerified), so that nothing is restored from a damaged file
// (a durable state machine would keep what it restored); a second decodes
// the runtime's header and, if read says so, streams the image into
// read.restoreInto's Restore. A machine behind a snapshot whose image it
// was to keep cannot be restored from it: that is ErrImageNotKept.
func readSnapshotFile(snapshots *snap.Store, metadata raft.SnapshotMetadata, read snapshotFileRead) (snapshotHeader, error) {
	fail := func(format string, err error) (snapshotHeader, error) {
		return snapshotHeader{}, fmt.Errorf(format+" snapshot %d: %w", metadata.Index, err)
	}
	if !read.alreadyVerified {
		verify, err := snapshots.OpenData(metadata)
		if err != nil {
			return fail("open", err)
		}
		_, err = io.Copy(io.Discard, verify)
		verify.Close()
		if err != nil {
			return fail("verify", err)
		}
	}
	data, err := snapshots.OpenData(metadata)
	if err != nil {
		return fail("open", err)
	}
	defer data.Close()
	buffered := bufio.NewReaderSize(data, snapshotReadBuffer)
	header, err := decodeSnapshotHeader(buffered)
	if err != nil {
		return fail("decode", err)
	}
	if header.imageKept {
		if _, err := buffered.Peek(1); err != io.EOF {
			return fail("decode", fmt.Errorf("%w: data after the header of a snapshot without an image", errBadRecord))
		}
	}
	if read.restoreInto == nil {
		return header, nil
	}
	switch {
	case header.imageKept && read.onlyIfBehind && read.machineApplied >= header.machineIndex:
		return header, nil
	case header.imageKept && read.onlyIfBehind:
		return snapshotHeader{}, fmt.Errorf("%w: snapshot %d keeps no image, and the state machine, at index %d, is behind the index %d it held when the snapshot was taken",
			ErrImageNotKept, metadata.Index, read.machineApplied, header.machineIndex)
	case header.imageKept:
		// Installing over whatever the machine holds (a snapshot from
		// the leader) needs an image; the machine's index is not asked.
		return snapshotHeader{}, fmt.Errorf("%w: snapshot %d keeps no image, so no state machine can be restored from it",
			ErrImageNotKept, metadata.Index)
	case read.onlyIfBehind && read.machineApplied >= metadata.Index:
		return header, nil
	}
	if err := read.restoreInto.Restore(buffered); err != nil {
		return fail("restore state machine from", err)
	}
	return header, nil
}

// snapshotReadBuffer is the buffer through which a snapshot file is
// streamed into the state machine.
const snapshotReadBuffer = 256 << 10
