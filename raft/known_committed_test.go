package raft

import (
	"math/rand/v2"
	"testing"
)

// Config.Committed: an application whose durable state applied entries
// the log's commit record does not cover (a commit-only hard state is not
// written) tells the core; the core starts with that commit index, before
// any leader says so, and still delivers the entries after Applied.
func TestKnownCommittedRaisesTheCommitIndex(t *testing.T) {
	storage := NewMemoryStorage()
	var entries []Entry
	for index := uint64(1); index <= 10; index++ {
		entries = append(entries, Entry{Index: index, Term: 1, Data: []byte{byte(index)}})
	}
	if err := storage.Append(entries); err != nil {
		t.Fatal(err)
	}
	storage.SetHardState(HardState{Term: 1, Commit: 5})
	core, err := NewCore(Config{ID: 1, Storage: storage, Random: rand.NewPCG(1, 2),
		InitialMembership: Membership{Voters: []NodeID{1, 2, 3}}, Applied: 2, Committed: 8})
	if err != nil {
		t.Fatal(err)
	}
	if commit := core.Status().Commit; commit != 8 {
		t.Fatalf("commit %d at start, want 8 (the application's)", commit)
	}
	ready := core.Ready()
	if n := len(ready.CommittedEntries); n != 6 || ready.CommittedEntries[0].Index != 3 || ready.CommittedEntries[n-1].Index != 8 {
		t.Fatalf("committed entries handed out: %v, want 3..8", ready.CommittedEntries)
	}
}
