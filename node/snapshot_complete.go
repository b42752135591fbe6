package node

import (
	"bufio"
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
)

// A durable state machine's snapshots hold no image (keepsOwnImages): the
// machine keeps its state on disk, so the node writes the image of a
// snapshot only when a follower first needs it. The core sends the newest
// snapshot (coreStorage); until its file holds an image, coreStorage reports the
// snapshot as temporarily unavailable (the core asks again at the
// follower's next heartbeat response) and the node completes the file in
// the background: the machine's image of now, behind the snapshot's own
// header, replaces the file under the same name.
//
// The image is of the machine's state when the completion starts, at or
// after the snapshot's index: everything the machine applied is committed,
// and entries the image already holds are skipped when the follower
// applies them (see noteMachineRestored), as etcd's backend skips entries
// at or below its consistent index. The runtime's own state in the header
// is the snapshot's, and the runtime's records after it are applied again
// on the follower, which they leave unchanged.

// completionResult is what a background completion reports to the loop.
type completionResult struct {
	metadata raft.SnapshotMetadata
	err      error
}

// snapshotImageReady says whether the snapshot at point may be sent: its
// file holds an image. If it does not, it starts completing the file and
// says no. coreStorage calls it, on the loop goroutine, whenever the core
// asks for the snapshot. A file that cannot be read is left to the
// transport, whose read fails and is reported as for any damaged file.
func (n *Node) snapshotImageReady(point raft.SnapshotMetadata) bool {
	if n.completing && n.completingPoint == keyOf(point) {
		return false
	}
	header, err := n.snapshotFileHeader(point)
	if err != nil || !header.imageKept {
		return true
	}
	n.completeSnapshot(point, header)
	return false
}

// snapshotFileHeader reads the runtime's header of a snapshot file.
func (n *Node) snapshotFileHeader(metadata raft.SnapshotMetadata) (snapshotHeader, error) {
	data, err := n.snapshots.OpenData(metadata)
	if err != nil {
		return snapshotHeader{}, err
	}
	defer data.Close()
	return decodeSnapshotHeader(bufio.NewReaderSize(data, 4<<10))
}

// completeSnapshot starts writing the image into the file of the snapshot
// at point, unless a completion is already running or the last one failed
// too recently (a full disk, a machine that cannot make an image).
func (n *Node) completeSnapshot(point raft.SnapshotMetadata, header snapshotHeader) {
	key := keyOf(point)
	if n.completing || n.completionRetry.Wait(key) > 0 {
		return
	}
	// Snapshot is called on the loop, between two Apply calls, as the
	// contract requires; the image is read on another goroutine.
	reader, err := n.machine.Snapshot()
	if err != nil {
		delay := n.completionRetry.Failed(key)
		n.log.Warn("cannot write the image a follower needs; will retry", "index", point.Index, "error", err, "retry_in", delay)
		return
	}
	n.completing, n.completingPoint = true, key
	prefix := encodeSnapshotHeader(header.book, header.promotions)
	n.log.Info("writing the image of a snapshot for a follower", "index", point.Index)
	n.snapshotWork.Go(func() {
		image := &imageReader{reader: reader}
		err := n.snapshots.SaveFrom(point, prefix, image)
		reader.Close()
		if image.err != nil {
			err = fmt.Errorf("read the state machine's image: %w", image.err)
		}
		n.completions <- completionResult{metadata: point, err: err}
	})
}

// finishCompletion records a background completion's outcome, on the
// loop. A failure leaves the file without an image, as it was (the store
// replaces a file only once the new one is durable): it is logged and
// tried again, later, when the core next asks for the snapshot.
func (n *Node) finishCompletion(result completionResult) {
	n.completing = false
	key := keyOf(result.metadata)
	if result.err != nil {
		delay := n.completionRetry.Failed(key)
		n.log.Warn("writing the image a follower needs failed; will retry", "index", result.metadata.Index, "error", result.err, "retry_in", delay)
		return
	}
	n.completionRetry.Succeeded(key)
	n.log.Info("snapshot image written for a follower", "index", result.metadata.Index)
}
