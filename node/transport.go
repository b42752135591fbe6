package node

import "github.com/lockstepdb/lockstep/raft"

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
