package node

import (
	"bufio"

	"github.com/lockstepdb/lockstep/raft"
)

// A durable state machine's snapshots at each interval hold no image
// (keepsOwnImages): the machine keeps its state on disk, so a snapshot only
// makes it durable and lets the log be compacted. A follower too far
// behind still needs an image. The core asks for the newest snapshot
// (coreStorage); if its file holds no image, coreStorage reports it
// temporarily unavailable (the core asks again at the follower's next
// heartbeat response) and the node takes a snapshot with an image at once,
// at its applied index, as it took every snapshot before: the image
// matches its snapshot's index exactly, so a follower of any version, and
// any state machine, installs it as it always did. That snapshot becomes
// the newest, and the core sends it when it next asks. This is what
// dragonboat does for its on-disk state machines: only metadata at each
// interval, an image when a member must be sent one.

// snapshotImageReady says whether the snapshot at point may be sent: its
// file holds an image. If it does not, it asks for a snapshot with an
// image (imageWanted, which maybeSnapshot takes after the Readies the loop
// is handling) and says no. coreStorage calls it, on the loop goroutine,
// whenever the core asks for a snapshot. A file that cannot be read is
// left to the transport, whose read fails and is reported as for any
// damaged file.
func (n *Node) snapshotImageReady(point raft.SnapshotMetadata) bool {
	header, err := n.snapshotFileHeader(point)
	if err != nil || !header.imageKept {
		return true
	}
	if !n.imageWanted {
		n.log.Info("a follower needs a snapshot with an image; taking one", "newest", point.Index)
	}
	n.imageWanted = true
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
