package node

import (
	"context"
	"maps"

	"github.com/lockstepdb/lockstep/raft"
)

// PeerAddresses returns the peer address of every node this node knows of
// (itself included, if it was configured or replicated): from its Config,
// its snapshot, and the address records in its log. Callers use it to
// list members; it may include nodes already removed from the membership.
func (n *Node) PeerAddresses(ctx context.Context) (map[raft.NodeID]string, error) {
	var addresses map[raft.NodeID]string
	err := n.do(ctx, func() { addresses = maps.Clone(n.addresses) })
	return addresses, err
}

// UpdateAddress replicates the peer address of a member (a new one, or one
// that moved to another host) and returns once it is applied on this node,
// which must be the leader. Every node then sends to that address.
func (n *Node) UpdateAddress(ctx context.Context, id raft.NodeID, address string) error {
	_, err := n.proposeEntry(ctx, func() (uint64, uint64, error) { return n.core.Propose(encodePeerAddress(id, address)) })
	return err
}
