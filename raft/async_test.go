package raft

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// newAsyncCore starts node id of a cluster of voters with AsyncPersistence,
// on empty storage, driven by hand.
func newAsyncCore(t *testing.T, id NodeID, voters ...NodeID) *Core {
	t.Helper()
	core, err := NewCore(Config{ID: id, Storage: NewMemoryStorage(), Random: rand.NewPCG(uint64(id), 7),
		InitialMembership: Membership{Voters: voters}, AsyncPersistence: true})
	if err != nil {
		t.Fatal(err)
	}
	return core
}

// takeReady takes a Ready and advances at once, as an asynchronous runtime
// does, keeping copies of the message lists.
func takeReady(core *Core) Ready {
	ready := core.Ready()
	kept := ready
	kept.SendNow = slices.Clone(ready.SendNow)
	kept.SendAfterPersist = slices.Clone(ready.SendAfterPersist)
	core.Advance(ready)
	return kept
}

// writeAndReport makes a taken Ready's write durable in the core's
// MemoryStorage and reports it with Persisted.
func writeAndReport(t *testing.T, core *Core, ready Ready) {
	t.Helper()
	storage := core.config.Storage.(*MemoryStorage)
	if err := storage.Append(ready.Entries); err != nil {
		t.Fatal(err)
	}
	if !ready.HardState.IsEmpty() {
		storage.SetHardState(ready.HardState)
	}
	core.Persisted(ready.PersistSequence)
}

func messagesOfType(messages []Message, kind MessageType) []Message {
	var out []Message
	for _, m := range messages {
		if m.Type == kind {
			out = append(out, m)
		}
	}
	return out
}

// The leader counts itself for an entry only once Persisted reports it
// durable, not when the Ready carrying it is advanced.
func TestAsyncLeaderCountsItselfOnlyAfterPersisted(t *testing.T) {
	one := newTestCluster(t, asynchronous, 1, nil)
	one.elect(1)
	one.holdWrites = map[NodeID]bool{1: true}
	index, _ := one.propose(1, "x")
	if committed := one.core(1).log.committed; committed >= index {
		t.Fatalf("single node committed %d before its write was durable (commit %d)", index, committed)
	}
	one.completeWrites(1, len(one.nodes[1].writes))
	if committed := one.core(1).log.committed; committed != index {
		t.Fatalf("after Persisted commit is %d, want %d", committed, index)
	}

	three := newTestCluster(t, asynchronous, 3, nil)
	three.elect(1)
	three.holdWrites = map[NodeID]bool{1: true}
	three.cutLink(1, 3) // only node 2 acknowledges: a quorum needs the leader itself
	index, _ = three.propose(1, "y")
	three.deliver()
	leader := three.core(1)
	if leader.progress[2].match < index {
		t.Fatalf("follower 2 did not acknowledge %d (match %d)", index, leader.progress[2].match)
	}
	if leader.log.committed >= index {
		t.Fatalf("leader committed %d with only a follower and its own unpersisted write", index)
	}
	three.completeWrites(1, len(three.nodes[1].writes))
	if leader.log.committed != index {
		t.Fatalf("after the leader's Persisted commit is %d, want %d", leader.log.committed, index)
	}
}

// A candidate counts its own vote only once its term and vote are durable.
func TestAsyncOwnVoteCountsOnlyAfterPersisted(t *testing.T) {
	core := newAsyncCore(t, 1, 1)
	for tick := 0; core.Summary().Role != RoleCandidate; tick++ {
		if tick > 100 {
			t.Fatal("no election within 100 ticks")
		}
		core.Tick()
	}
	ready := takeReady(core)
	if ready.HardState.Vote != 1 || core.Summary().Role != RoleCandidate {
		t.Fatalf("candidate won before its vote was durable: %v, %+v", core.Summary().Role, ready.HardState)
	}
	writeAndReport(t, core, ready)
	if core.Summary().Role != RoleLeader {
		t.Fatalf("candidate did not win once its vote was durable: %v", core.Summary().Role)
	}
}

// Vote grants and append acknowledgements are held until Persisted covers
// the write they vouch for, then released in the next Ready.
func TestAsyncVotesAndAcknowledgementsWaitForPersisted(t *testing.T) {
	voter := newAsyncCore(t, 1, 1, 2, 3)
	if err := voter.Step(Message{Type: MessageVote, From: 2, To: 1, Term: 5}); err != nil {
		t.Fatal(err)
	}
	vote := takeReady(voter)
	if vote.HardState.Vote != 2 || len(vote.SendNow)+len(vote.SendAfterPersist) != 0 || vote.PersistSequence == 0 {
		t.Fatalf("vote must be written before the grant leaves: %+v", vote)
	}
	if err := voter.Step(Message{Type: MessageVote, From: 3, To: 1, Term: 5}); err != nil {
		t.Fatal(err) // an input while the write is in flight
	}
	if second := takeReady(voter); len(second.SendAfterPersist) != 0 {
		t.Fatalf("a response left before the vote it follows was durable: %v", second.SendAfterPersist)
	}
	writeAndReport(t, voter, vote)
	released := takeReady(voter).SendAfterPersist
	if len(released) != 2 || released[0].To != 2 || released[0].Reject || released[1].To != 3 || !released[1].Reject {
		t.Fatalf("after Persisted want the grant to 2 then the refusal to 3, got %v", released)
	}

	three := newTestCluster(t, asynchronous, 3, nil)
	three.elect(1)
	three.holdWrites = map[NodeID]bool{2: true}
	index, _ := three.propose(1, "x")
	three.deliver()
	if match := three.core(1).progress[2].match; match >= index {
		t.Fatalf("follower 2 acknowledged %d before its write was durable (match %d)", index, match)
	}
	three.completeWrites(2, len(three.nodes[2].writes))
	three.deliver()
	if match := three.core(1).progress[2].match; match < index {
		t.Fatalf("follower 2's acknowledgement was not released by Persisted (match %d, want %d)", match, index)
	}
}

// Committed entries reach the application only once durable locally.
func TestAsyncCommittedEntriesWaitForPersisted(t *testing.T) {
	follower := newAsyncCore(t, 2, 1, 2, 3)
	entries := []Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1, Data: []byte("a")}}
	if err := follower.Step(Message{Type: MessageAppend, From: 1, To: 2, Term: 1, Entries: entries, Commit: 2}); err != nil {
		t.Fatal(err)
	}
	ready := takeReady(follower)
	if len(ready.Entries) != 2 || len(ready.CommittedEntries) != 0 {
		t.Fatalf("entries were delivered for application before they were durable: %+v", ready)
	}
	writeAndReport(t, follower, ready)
	if applied := takeReady(follower).CommittedEntries; len(applied) != 2 {
		t.Fatalf("after Persisted want entries 1..2 to apply, got %v", applied)
	}
}

// A follower's suffix replaced while the write of the old one is in
// flight: the stale Persisted makes only the still-matching prefix durable,
// and each acknowledgement leaves only once its own write is durable.
func TestAsyncStalePersistedAfterTruncationIsIgnored(t *testing.T) {
	follower := newAsyncCore(t, 2, 1, 2, 3)
	old := []Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 1}}
	if err := follower.Step(Message{Type: MessageAppend, From: 1, To: 2, Term: 1, Entries: old}); err != nil {
		t.Fatal(err)
	}
	first := takeReady(follower)
	// A new leader replaces entries 2 and 3 while the first write is in
	// flight.
	replacement := []Entry{{Index: 2, Term: 2}}
	if err := follower.Step(Message{Type: MessageAppend, From: 3, To: 2, Term: 2, LogIndex: 1, LogTerm: 1, Entries: replacement}); err != nil {
		t.Fatal(err)
	}
	second := takeReady(follower)
	if len(second.Entries) != 1 || second.Entries[0].Term != 2 || second.PersistSequence != first.PersistSequence+1 {
		t.Fatalf("the replacement must be handed out as a new write: %+v", second)
	}
	writeAndReport(t, follower, first)
	if last, term := follower.log.lastIndex(), follower.log.termOrZero(2); last != 2 || term != 2 {
		t.Fatalf("after the stale Persisted the log ends at %d with term %d at 2, want 2 and 2", last, term)
	}
	if follower.log.durableLastIndex() != 1 {
		t.Fatalf("durable log ends at %d, want 1 (entries 2 and 3 were replaced)", follower.log.durableLastIndex())
	}
	acks := messagesOfType(takeReady(follower).SendAfterPersist, MessageAppendResponse)
	if len(acks) != 1 || acks[0].To != 1 || acks[0].Index != 3 {
		t.Fatalf("after the first write only the acknowledgement to leader 1 may leave, got %v", acks)
	}
	follower.Persisted(first.PersistSequence) // a duplicate changes nothing
	writeAndReport(t, follower, second)
	acks = messagesOfType(takeReady(follower).SendAfterPersist, MessageAppendResponse)
	if len(acks) != 1 || acks[0].To != 3 || acks[0].Index != 2 || follower.log.durableLastIndex() != 2 {
		t.Fatalf("after the second write want the acknowledgement of 2 to leader 3, got %v (durable %d)", acks, follower.log.durableLastIndex())
	}
}

// Persisted for a write never handed out is a runtime bug and panics.
func TestAsyncPersistedBeyondHandedOutPanics(t *testing.T) {
	core := newAsyncCore(t, 1, 1, 2, 3)
	defer func() {
		if recover() == nil {
			t.Fatal("Persisted(1) with no write handed out did not panic")
		}
	}()
	core.Persisted(1)
}
