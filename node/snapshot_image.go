package node

import "github.com/lockstepdb/lockstep/raft"

// A durable state machine's snapshots at each interval hold no image
// (keepsOwnImages): the machine keeps its state on disk, so a snapshot only
// makes it durable and lets the log be compacted. A follower too far
// behind still needs an image. The core asks coreStorage for a snapshot to
// send, which asks snapshotToSend: the newest snapshot if it holds an
// image, else the newest that does as long as the log still holds the
// entries after it; else it reports the snapshot temporarily unavailable
// (the core asks again at the follower's next heartbeat response) and the
// node takes a snapshot with an image at once, at its applied index, as it
// takes every snapshot of a machine that is not durable. The image matches
// its snapshot's index exactly, so a follower of any version, and any state
// machine, installs it as it always did. This is what dragonboat does for
// its on-disk state machines: only metadata at each interval, an image when
// a member must be sent one.

// snapshotToSend returns the snapshot to send a follower too far behind,
// and whether it can be sent now (see above). The newest is sent if it
// holds an image: a follower caught up by it needs only the entries after
// it, which the log keeps until the snapshot after next, so it has a whole
// interval to fetch them before the leader compacts them away and must
// send another (etcd sends its newest snapshot too). A snapshot with an
// image older than the newest still serves while its index is at or above
// the log's compaction point: at a high write rate a snapshot at each
// interval may come before the core asks again, and taking yet another
// image then would never end. Which snapshot holds an image is known from
// how each was made (imageSnapshot), so no file is read on the loop.
// coreStorage calls it on the loop goroutine.
func (n *Node) snapshotToSend(logPoint raft.SnapshotMetadata) (raft.SnapshotMetadata, bool) {
	if n.imageSnapshot.Index != 0 && n.imageSnapshot.Index >= logPoint.Index {
		// The newest snapshot, unless a newer one without an image came
		// after it.
		return n.imageSnapshot, true
	}
	newest := n.previousSnapshot
	if newest.Index < logPoint.Index {
		newest = logPoint
	}
	if n.capturingImage {
		return newest, false // one is being taken: it will be the newest
	}
	if !n.imageWanted {
		n.log.Info("a follower needs a snapshot with an image; taking one", "newest", newest.Index)
	}
	n.imageWanted = true
	return newest, false
}
