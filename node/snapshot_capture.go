package node

import (
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
	"github.com/lockstepdb/lockstep/wal"
)

// maybeSnapshot starts capturing the state machine when the snapshot
// policy says so, or when a follower needs an image that the newest
// snapshot does not hold (imageWanted, see snapshot_image.go). The loop
// takes the snapshot metadata and the header (the address book and
// pending promotions) at the last index it handed to the applier; the
// applier takes the machine's Snapshot when it has applied exactly that
// far (see captureMachine). Reading the image, saving it and compacting
// the log happen in the background (see snapshotInBackground), so a large
// store never stalls replication. One capture runs at a time.
func (n *Node) maybeSnapshot() error {
	due := n.config.SnapshotEntries >= 0 && n.applied >= n.lastSnapshot+uint64(n.config.SnapshotEntries)
	if n.snapshotting || !(due || n.imageWanted) {
		return nil
	}
	if n.applied < n.machineApplied {
		// A durable machine holds entries this node has not yet seen
		// committed (it restarted with a commit index its log recorded
		// behind what the machine had applied: a hard state that only
		// moves the commit index is not written). Its image would hold
		// them under the index n.applied, and a follower restored from it
		// would apply them again. The capture waits until the node has
		// applied that far; a follower's want stays set meanwhile.
		return nil
	}
	if n.snapshotRetry.Wait(struct{}{}) > 0 {
		return nil // the last capture could not be saved: wait before the next
	}
	metadata, err := n.core.SnapshotMetadata(n.applied)
	if err != nil {
		return nil // nothing to capture at this index
	}
	// A durable machine keeps its own image at each interval: Snapshot
	// only makes it durable, and the image is written when a follower
	// needs one.
	_, durable := n.machine.(DurableStateMachine)
	withImage := !(durable && n.keepsOwnImages() && !n.imageWanted)
	if withImage && n.imageWanted {
		n.imageWanted = false
		n.log.Info("taking a snapshot with an image for a follower", "index", metadata.Index)
	}
	n.snapshotting, n.capturingImage = true, withImage
	addresses, promotions := maps.Clone(n.addresses), maps.Clone(n.promotions)
	previous := n.previousSnapshot
	n.applier.post(applyJob{do: func() { n.captureMachine(metadata, previous, addresses, promotions, withImage) }})
	return nil
}

// captureMachine takes the machine's Snapshot, on the applier's goroutine
// once it has applied up to metadata.Index, and saves it in the
// background; the outcome reaches the loop on snapshotResults.
func (n *Node) captureMachine(metadata, previous raft.SnapshotMetadata, addresses addressBook, promotions map[raft.NodeID]bool, withImage bool) {
	reader, err := n.machine.Snapshot()
	if err != nil {
		n.log.Error("state machine snapshot failed; will retry", "error", err)
		n.snapshotResults <- snapshotResult{index: metadata.Index, retry: true}
		return
	}
	header := encodeSnapshotHeader(addresses, promotions)
	if !withImage {
		// Snapshot made the machine durable up to what it applied.
		if err := reader.Close(); err != nil {
			n.log.Warn("closing an unread state machine image failed", "error", err)
		}
		header, reader = encodeImageKeptHeader(addresses, promotions, n.machine.(DurableStateMachine).AppliedIndex()), nil
	}
	n.snapshotWork.Go(func() {
		n.snapshotResults <- n.snapshotInBackground(metadata, previous, header, reader)
	})
}

// keepsOwnImages says whether this node's snapshots at each interval leave
// the image to a durable state machine (see Config.KeepSnapshotImages).
// Only with a transport that streams snapshots from their files: the
// in-memory path is for tests and small machines.
func (n *Node) keepsOwnImages() bool {
	_, durable := n.machine.(DurableStateMachine)
	return durable && n.streamSnapshots && !n.config.KeepSnapshotImages
}

// snapshotResult is what a background capture reports to the loop.
type snapshotResult struct {
	metadata raft.SnapshotMetadata
	index    uint64
	// err is a failed write of the snapshot or the log: fatal.
	err error
	// retry is set when nothing was saved and a later capture may
	// succeed: the image could not be read, or the snapshot's disk was
	// full. The log was not compacted.
	retry bool
	// withImage: the snapshot saved holds the machine's image.
	withImage bool
}

// snapshotInBackground reads the image (if reader is not nil: a durable
// machine may keep it), saves the snapshot, header first, and compacts the
// log to the previous snapshot (see compactionPoint). Runs on its own
// goroutine; touches only the snapshot store and the log, which are safe
// for concurrent use.
func (n *Node) snapshotInBackground(metadata, previous raft.SnapshotMetadata, header []byte, reader io.ReadCloser) snapshotResult {
	// The image streams into the snapshot file behind the runtime's
	// header: a large store is never held whole in memory.
	image := &imageReader{reader: reader, stopping: n.stopping}
	var err error
	if reader == nil {
		err = n.snapshots.SaveFrom(metadata, header, nil)
	} else {
		err = n.snapshots.SaveFrom(metadata, header, image)
		reader.Close()
	}
	if errors.Is(image.err, ErrStopped) {
		return snapshotResult{index: metadata.Index, retry: true} // nothing saved; nobody waits for it
	}
	if image.err != nil {
		// The state machine failed, not the disk: nothing was saved; the
		// policy tries again later.
		n.log.Error("reading state machine snapshot failed; will retry", "error", image.err)
		return snapshotResult{index: metadata.Index, retry: true}
	}
	if vfs.IsNoSpace(err) {
		// The store removed its partial file, and nothing depends on a
		// snapshot until it is saved (the log is compacted only after):
		// the node goes on with its log, and tries again later.
		n.log.Warn("snapshot not saved: the disk is full; will retry", "index", metadata.Index, "error", err)
		return snapshotResult{index: metadata.Index, retry: true}
	}
	if err != nil {
		return snapshotResult{index: metadata.Index, err: fmt.Errorf("node %v: save snapshot %d: %w", n.config.ID, metadata.Index, err)}
	}
	if previous.Index <= n.storage.Log().SnapshotMetadata().Index {
		return snapshotResult{metadata: metadata, index: metadata.Index, withImage: reader != nil}
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
	// then there is nothing left to compact. A log whose disk is full for
	// its next segment wrote nothing (wal.ErrNoSpace): the compaction is
	// left to the next snapshot, which compacts further, and the writer
	// waits for space (see saveWaitingForSpace).
	err = n.storage.Compact(point)
	if errors.Is(err, wal.ErrNoSpace) {
		n.log.Warn("log compaction skipped: the raft log's disk is full; the next snapshot compacts", "index", previous.Index, "error", err)
	} else if err != nil && !errors.Is(err, raft.ErrSnapshotOutOfDate) {
		return snapshotResult{index: metadata.Index, err: fmt.Errorf("node %v: compact log at %d: %w", n.config.ID, previous.Index, err)}
	}
	return snapshotResult{metadata: metadata, index: metadata.Index, withImage: reader != nil}
}

// imageReader remembers an error of the state machine's image, so that it
// is told apart from a failure to write the snapshot file. It fails with
// ErrStopped once stopping is closed, so that Stop, which waits for the
// capture, does not wait for a store-sized image to be written.
type imageReader struct {
	reader   io.Reader
	stopping <-chan struct{}
	err      error
}

func (r *imageReader) Read(buffer []byte) (int, error) {
	select {
	case <-r.stopping:
		r.err = ErrStopped
		return 0, r.err
	default:
	}
	n, err := r.reader.Read(buffer)
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = err
	}
	return n, err
}

// finishSnapshot records a background capture's outcome, on the loop.
func (n *Node) finishSnapshot(result snapshotResult) error {
	n.snapshotting, n.capturingImage = false, false
	if result.retry {
		n.snapshotRetry.Failed(struct{}{})
		return nil
	}
	if result.err != nil {
		return result.err
	}
	n.snapshotRetry.Succeeded(struct{}{})
	n.lastSnapshot = max(n.lastSnapshot, result.index)
	if result.index > n.previousSnapshot.Index {
		n.previousSnapshot = result.metadata
	}
	if result.withImage && result.index > n.imageSnapshot.Index {
		n.imageSnapshot = result.metadata
	}
	// A received snapshot at or below what is applied can no longer be
	// accepted (the core takes only one above its commit index): its staged
	// file would otherwise wait for the next install or restart.
	n.snapshots.DiscardStaged(n.applied)
	n.publish(Event{Kind: SnapshotTaken, Index: result.index})
	return nil
}
