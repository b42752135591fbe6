package node

import "github.com/lockstepdb/lockstep/raft"

// EventKind says what happened.
type EventKind uint8

const (
	// LeaderChanged: Leader (raft.None while unknown) in Term.
	LeaderChanged EventKind = iota + 1
	// MembershipChanged: a new configuration took effect (Membership).
	MembershipChanged
	// SnapshotTaken: this node captured its state at Index and compacted
	// its log.
	SnapshotTaken
	// SnapshotInstalled: this node's state was replaced by the leader's
	// snapshot at Index.
	SnapshotInstalled
)

// Event is a notification from Subscribe.
type Event struct {
	Kind       EventKind
	Term       uint64
	Leader     raft.NodeID
	Index      uint64
	Membership raft.Membership
}

// Subscribe returns a channel of events with room for buffer of them, and a
// function that ends the subscription. Events are dropped for a subscriber
// whose buffer is full: the node never waits for a slow reader.
func (n *Node) Subscribe(buffer int) (<-chan Event, func()) {
	events := make(chan Event, buffer)
	var id int
	if err := n.do(background(), func() {
		n.nextID++
		id = n.nextID
		n.subscribers[id] = events
	}); err != nil {
		close(events)
		return events, func() {}
	}
	return events, func() { _ = n.do(background(), func() { delete(n.subscribers, id) }) }
}

// publish sends an event to every subscriber that has room.
func (n *Node) publish(event Event) {
	for _, events := range n.subscribers {
		select {
		case events <- event:
		default:
		}
	}
}

// noticeChanges publishes leader and membership changes after each round.
func (n *Node) noticeChanges() {
	summary := n.core.Summary()
	n.noteTenure(summary.Role == raft.RoleLeader)
	if summary.Leader != n.leader {
		n.leader = summary.Leader
		n.log.Info("leader changed", "leader", summary.Leader.String(), "term", summary.Term)
		n.publish(Event{Kind: LeaderChanged, Term: summary.Term, Leader: summary.Leader})
		// Reads registered with an old leader may never be answered;
		// their callers retry.
		for key, read := range n.reads {
			read.done <- errRetryRead
			delete(n.reads, key)
		}
	}
	membership := n.core.Membership()
	if !sameMembership(membership, n.membership) {
		n.membership = membership
		n.publish(Event{Kind: MembershipChanged, Term: summary.Term, Membership: membership.Clone()})
	}
}

// tenure is one unbroken stretch of this node's leadership.
type tenure struct {
	// ended closes when the node steps down.
	ended chan struct{}
}

// noteTenure starts a tenure when the core has come to lead and ends it
// when the core has stepped down. Only the loop calls it.
func (n *Node) noteTenure(leading bool) {
	current := n.tenure.Load()
	switch {
	case leading && current == nil:
		n.tenure.Store(&tenure{ended: make(chan struct{})})
	case !leading && current != nil:
		n.tenure.Store(nil)
		close(current.ended)
	}
}

func sameMembership(a, b raft.Membership) bool {
	equal := func(x, y []raft.NodeID) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	return equal(a.Voters, b.Voters) && equal(a.OutgoingVoters, b.OutgoingVoters) && equal(a.Learners, b.Learners)
}
