package node

import (
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
)

// Transport carries messages between nodes. The gRPC transport in package
// transport implements it; LocalNetwork implements it in memory.
//
// Threading contract: the node calls Start once, before anything else, and
// Stop once, last. Send, SetPeer and RemovePeer are called from the node's
// loop goroutine. The handler passed to Start is called from the
// transport's goroutines, concurrently, and must not block for long.
type Transport interface {
	// Start begins receiving; each message received is passed to handler.
	Start(handler func(raft.Message)) error
	// Send queues messages for delivery and returns at once; messages that
	// cannot be queued are dropped (the core retransmits).
	Send(messages []raft.Message)
	// SetPeer adds or updates the address of a peer.
	SetPeer(id raft.NodeID, address string)
	// RemovePeer forgets a peer.
	RemovePeer(id raft.NodeID)
	// Stop stops sending and receiving.
	Stop() error
}

// UnreachableReporter is implemented by a Transport that can tell when a
// peer is unreachable (transport.Transport does: a message stream broke or
// could not be opened, and what was in flight on it is lost). Start calls
// OnUnreachable once, before the transport's Start; the transport then
// calls report, from its own goroutines, whenever that happens, and report
// does not block. The node hands each report to the core
// (raft.Core.ReportUnreachable), so that a leader stops pipelining appends
// to a peer that is gone.
type UnreachableReporter interface {
	OnUnreachable(report func(raft.NodeID))
}

// SnapshotStreamer is implemented by a Transport that can stream snapshots
// through the node's snapshot store instead of carrying them in memory
// (transport.Transport does). Start calls UseSnapshotStore once, before
// the transport's Start. From then on the core is handed snapshots
// without their data: the transport sends a snapshot message whose
// Snapshot.Data is nil from the store's file (snap.Store.OpenData), and
// hands the node each snapshot it receives with Data nil, after writing
// it, verified and durable, into a staged file (snap.Store.Receive); the
// node installs that file (snap.Store.Install) once the core accepts the
// snapshot. A snapshot is then never held whole in memory on either side.
type SnapshotStreamer interface {
	UseSnapshotStore(store *snap.Store)
}

// RemovalAware is implemented by a Transport that can tell a removed
// member so, as etcd's peers do (transport.Transport does). Start calls
// UseRemovals once, before the transport's Start, with WasRemoved and
// NoteRemoved: the transport refuses the messages of nodes this node saw
// removed, and reports a peer's refusal of this node's own messages, the
// way a removed node learns of its removal when the leader stopped
// replicating to it before it heard (see Removed).
type RemovalAware interface {
	UseRemovals(wasRemoved func(raft.NodeID) bool, noteRemoved func())
}
