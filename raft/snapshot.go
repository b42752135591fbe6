package raft

import (
	"errors"
	"fmt"
)

// sendSnapshot sends the latest snapshot to a follower whose next entry was
// compacted away (InstallSnapshot, Raft §7). The follower's progress waits
// in stateSnapshot until it acknowledges; if it still answers heartbeats
// an election timeout later without having acknowledged, the core sends
// it again by itself.
func (c *Core) sendSnapshot(to NodeID, follower *progress) bool {
	snapshot, err := c.log.storage.Snapshot()
	if err != nil {
		if errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
			return false // the runtime is preparing one; retried on the next heartbeat response
		}
		panic(fmt.Sprintf("raft: leader %v: snapshot for follower %v: %v", c.id, to, err))
	}
	if snapshot.IsEmpty() {
		panic(fmt.Sprintf("raft: leader %d: follower %d needs compacted entries but storage has no snapshot", c.id, to))
	}
	c.send(Message{Type: MessageSnapshot, To: to, Snapshot: &snapshot})
	follower.becomeSnapshot(snapshot.Metadata.Index, c.ticks)
	return true
}

// ErrSnapshotTemporarilyUnavailable may be returned by Storage.Snapshot
// while the runtime is still writing a snapshot; the leader retries later.
var ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot temporarily unavailable")

// handleSnapshot installs a snapshot from the leader. A snapshot no newer
// than our commit index is stale or a duplicate and changes nothing. If our
// log already holds the snapshot's last entry, the snapshot only advances
// the commit index and the log after it is kept. Otherwise the whole log is
// replaced: the snapshot reaches the application (Ready.Snapshot) before
// any entry after it is applied.
func (c *Core) handleSnapshot(m Message) {
	if m.Snapshot == nil {
		return
	}
	metadata := m.Snapshot.Metadata
	switch {
	case mutated(mutationSnapshotInstallsStale) && metadata.Index < c.log.committed:
		c.log.restore(*m.Snapshot)
		c.baseMembership = metadata.Membership.Clone()
		c.membershipLog = nil
		c.setMembership(c.baseMembership)
	case metadata.Index <= c.log.committed:
		// Stale or duplicated: our log already covers it.
	case c.log.matchTerm(metadata.Index, metadata.Term):
		c.log.commitTo(metadata.Index)
	default:
		c.log.restore(*m.Snapshot)
		c.baseMembership = metadata.Membership.Clone()
		c.membershipLog = nil
		c.setMembership(c.baseMembership)
	}
	c.send(Message{Type: MessageAppendResponse, To: m.From, Index: max(c.log.committed, metadata.Index)})
}
