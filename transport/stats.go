package transport

import (
	"sync/atomic"

	"github.com/lockstepdb/lockstep/raft"
)

// Stats counts what a transport did since New; Transport.Stats returns a
// copy, which the caller owns. Sending and receiving are
// counted separately: a message dropped by the receiver was already counted
// as sent by the sender.
type Stats struct {
	// Sent counts messages written to a stream (a snapshot counts once,
	// when the receiver acknowledged it).
	Sent uint64
	// Received counts messages handed to the handler.
	Received uint64
	// BatchesSent counts message frames written; Sent/BatchesSent is the
	// average batch size.
	BatchesSent uint64

	// DroppedQueueFull counts messages Send dropped because the peer's
	// queue (or, for snapshots, its single snapshot slot) was full.
	DroppedQueueFull uint64
	// DroppedUnknownPeer counts messages Send dropped because their To was
	// not a peer set with SetPeer.
	DroppedUnknownPeer uint64
	// DroppedOversized counts messages Send dropped because their encoding
	// (snapshot data excluded) exceeded MaxMessageBytes.
	DroppedOversized uint64
	// DroppedByFault counts messages dropped by the FaultHook.
	DroppedByFault uint64
	// DroppedSendFailed counts messages lost because their stream broke
	// while they were written, and snapshot transfers that failed.
	DroppedSendFailed uint64

	// DroppedDecodeError counts received messages (or whole frames) that
	// could not be decoded.
	DroppedDecodeError uint64
	// DroppedWrongSender counts received messages whose From differs from
	// the sender named in their stream's header.
	DroppedWrongSender uint64
	// DroppedWrongTarget counts received messages whose To is not this node.
	DroppedWrongTarget uint64
	// RejectedWrongCluster counts incoming streams refused because their
	// header named another cluster ID.
	RejectedWrongCluster uint64
	// RejectedWrongTarget counts incoming streams refused because their
	// header named another target node, or an invalid header.
	RejectedWrongTarget uint64
	// RejectedRemoved counts incoming streams and batches refused because
	// their sender was removed from the cluster (see UseRemovals).
	RejectedRemoved uint64

	// SnapshotsSent counts snapshot transfers the receiver acknowledged.
	SnapshotsSent uint64
	// SnapshotsReceived counts snapshots reassembled, verified and handed
	// to the handler.
	SnapshotsReceived uint64
	// SnapshotsDiscarded counts incoming snapshot transfers that were
	// interrupted or failed verification, and were thrown away.
	SnapshotsDiscarded uint64

	// Peers has the sending side's figures for each current peer.
	Peers map[raft.NodeID]PeerStats
}

// PeerStats is the sending side's view of one peer.
type PeerStats struct {
	// Address is where the peer is dialed.
	Address string
	// Connected is true while a message stream to the peer is open.
	Connected bool
	// Direct is true while that stream is a direct message connection;
	// false while it is a gRPC stream (a peer of an older version, or a
	// path that passes only HTTP/2) or while none is open.
	Direct bool
	// Queued is the number of messages waiting in the peer's queue.
	Queued int
	// Sent counts messages written to the peer's stream.
	Sent uint64
	// DroppedQueueFull counts messages dropped because its queue was full.
	DroppedQueueFull uint64
	// Reconnects counts message streams opened after the first.
	Reconnects uint64
	// StreamFailures counts message streams to the peer that broke or
	// could not be opened (each is retried after a backoff): it rises
	// steadily while the peer is down or cut off.
	StreamFailures uint64
}

// counters holds the transport-wide Stats as atomics, so every goroutine
// updates them without a lock.
type counters struct {
	sent, received, batchesSent                                                   atomic.Uint64
	droppedQueueFull, droppedUnknownPeer, droppedOversized, droppedByFault        atomic.Uint64
	droppedSendFailed, droppedDecodeError, droppedWrongSender, droppedWrongTarget atomic.Uint64
	rejectedWrongCluster, rejectedWrongTarget, rejectedRemoved                    atomic.Uint64
	snapshotsSent, snapshotsReceived, snapshotsDiscarded                          atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Sent: c.sent.Load(), Received: c.received.Load(), BatchesSent: c.batchesSent.Load(),
		DroppedQueueFull: c.droppedQueueFull.Load(), DroppedUnknownPeer: c.droppedUnknownPeer.Load(),
		DroppedOversized: c.droppedOversized.Load(), DroppedByFault: c.droppedByFault.Load(),
		DroppedSendFailed: c.droppedSendFailed.Load(), DroppedDecodeError: c.droppedDecodeError.Load(),
		DroppedWrongSender: c.droppedWrongSender.Load(), DroppedWrongTarget: c.droppedWrongTarget.Load(),
		RejectedWrongCluster: c.rejectedWrongCluster.Load(), RejectedWrongTarget: c.rejectedWrongTarget.Load(),
		RejectedRemoved: c.rejectedRemoved.Load(),
		SnapshotsSent:   c.snapshotsSent.Load(), SnapshotsReceived: c.snapshotsReceived.Load(),
		SnapshotsDiscarded: c.snapshotsDiscarded.Load(),
	}
}
