package node

import (
	"sync"

	"github.com/lockstepdb/lockstep/raft"
)

// removals remembers which nodes this node saw leave the membership, and
// whether this node itself was removed. Its lookups are called from the
// transport's goroutines, hence the lock.
//
// A node removed from the cluster is usually the last to know: the leader
// stops replicating to it as soon as the configuration without it is
// appended, so it stays in the joint configuration it last heard of,
// leaderless. The members that applied its removal tell it instead, as
// etcd's do, when it next sends them a message (see WasRemoved).
type removals struct {
	mu sync.RWMutex
	// members are the nodes of every configuration applied so far (since
	// Start: a restarted node forgets the removals before its snapshot).
	members map[raft.NodeID]bool
	// removed are nodes that were in an applied configuration and are in
	// none since. Member IDs are never reused, so this is permanent.
	removed map[raft.NodeID]bool
	self    chan struct{}
	once    sync.Once
}

func newRemovals() *removals {
	return &removals{members: map[raft.NodeID]bool{}, removed: map[raft.NodeID]bool{}, self: make(chan struct{})}
}

// inMembership reports whether id is a voter, outgoing voter or learner.
func inMembership(membership raft.Membership, id raft.NodeID) bool {
	for _, list := range [][]raft.NodeID{membership.Voters, membership.OutgoingVoters, membership.Learners} {
		for _, other := range list {
			if other == id {
				return true
			}
		}
	}
	return false
}

// observe records a membership: the one in effect at Start, then that of
// each applied (committed) membership entry. It reports whether self is no
// longer in it although it was before: this node was removed.
func (r *removals) observe(membership raft.Membership, self raft.NodeID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.members {
		if !inMembership(membership, id) {
			r.removed[id] = true
			delete(r.members, id)
		}
	}
	for _, list := range [][]raft.NodeID{membership.Voters, membership.OutgoingVoters, membership.Learners} {
		for _, id := range list {
			if !r.removed[id] {
				r.members[id] = true
			}
		}
	}
	return r.removed[self]
}

// WasRemoved reports whether id was a member of this node's cluster and
// this node has applied its removal (since it started). The transport asks
// it for every incoming stream and batch, so that a removed member's
// messages are answered with "you were removed" (transport.Config.Removed).
// Safe for concurrent use.
func (n *Node) WasRemoved(id raft.NodeID) bool {
	n.removals.mu.RLock()
	defer n.removals.mu.RUnlock()
	return n.removals.removed[id]
}

// Removed returns a channel closed once this node has learnt that it was
// removed from the cluster: it applied a membership without itself, or
// NoteRemoved was called because a member that applied one said so. A
// removed node can never rejoin under its ID; the application should stop
// it.
func (n *Node) Removed() <-chan struct{} { return n.removals.self }

// NoteRemoved records that a member of the cluster refused this node's
// messages because it applied this node's removal (transport.Config
// OnRemoved calls it). It closes Removed's channel.
func (n *Node) NoteRemoved() { n.removals.once.Do(func() { close(n.removals.self) }) }
