package node

import (
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

// TestRemovalsFollowCommittedConfigurations: a node in the outgoing half
// of a joint configuration is still a member; once a configuration without
// it is observed it is removed for good; this node learns its own removal
// only if it was a member first (a joining node starts with none).
func TestRemovalsFollowCommittedConfigurations(t *testing.T) {
	removals := newRemovals()
	if removals.observe(raft.Membership{}, 1) {
		t.Fatal("a joining node with no configuration yet believes it was removed")
	}
	if removals.observe(raft.Membership{Voters: []raft.NodeID{1, 2, 3}}, 1) {
		t.Fatal("removed while a voter")
	}
	joint := raft.Membership{Voters: []raft.NodeID{1, 2}, OutgoingVoters: []raft.NodeID{1, 2, 3}}
	if removals.observe(joint, 3) || removals.removed[3] {
		t.Fatal("a node in the outgoing half of a joint configuration counted as removed")
	}
	if removals.observe(raft.Membership{Voters: []raft.NodeID{1, 2}, Learners: []raft.NodeID{4}}, 1) {
		t.Fatal("node 1 believes it was removed while a voter")
	}
	if !removals.removed[3] || removals.removed[4] {
		t.Fatalf("removed %v, want node 3 only", removals.removed)
	}
	if !removals.observe(raft.Membership{Voters: []raft.NodeID{2}}, 1) {
		t.Fatal("node 1 did not learn its own removal")
	}
	// Removal is permanent: the ID is never reused.
	removals.observe(raft.Membership{Voters: []raft.NodeID{2, 3}}, 2)
	if !removals.removed[3] {
		t.Fatal("a removed ID came back")
	}
}
