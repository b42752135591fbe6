package raft

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// newFollowerWithLog returns a follower core whose durable log has the
// given terms at indexes 1, 2, ...
func newFollowerWithLog(t *testing.T, id NodeID, terms []uint64, committed uint64) *Core {
	t.Helper()
	storage := NewMemoryStorage()
	var entries []Entry
	for i, term := range terms {
		entries = append(entries, Entry{Index: uint64(i + 1), Term: term, Data: []byte(fmt.Sprintf("%d-%d", i+1, term))})
	}
	if err := storage.Append(entries); err != nil {
		t.Fatal(err)
	}
	lastTerm := uint64(0)
	if len(terms) > 0 {
		lastTerm = terms[len(terms)-1]
	}
	storage.SetHardState(HardState{Term: lastTerm, Commit: committed})
	core, err := NewCore(Config{ID: id, Storage: storage, Random: rand.NewPCG(uint64(id), 3), InitialMembership: Membership{Voters: []NodeID{1, 2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	return core
}

func stepAndReady(t *testing.T, core *Core, m Message) Ready {
	t.Helper()
	if err := core.Step(m); err != nil {
		t.Fatal(err)
	}
	return persistAndAdvance(t, core)
}

// persistAndAdvance takes a Ready, persists it to the core's MemoryStorage
// and advances, as a runtime would (without sending anything). With
// AsyncPersistence it then reports the write durable, so what waited for
// it (own votes and acknowledgements, answers) takes effect at once and
// leaves with the next Ready.
func persistAndAdvance(t *testing.T, core *Core) Ready {
	t.Helper()
	ready := core.Ready()
	storage := core.config.Storage.(*MemoryStorage)
	if err := storage.Append(ready.Entries); err != nil {
		t.Fatal(err)
	}
	if !ready.HardState.IsEmpty() {
		storage.SetHardState(ready.HardState)
	}
	// Advance takes the message lists back; the test keeps copies.
	kept := ready
	kept.SendNow = slices.Clone(ready.SendNow)
	kept.SendAfterPersist = slices.Clone(ready.SendAfterPersist)
	core.Advance(ready)
	if core.config.AsyncPersistence && ready.PersistSequence != 0 {
		core.Persisted(ready.PersistSequence)
	}
	return kept
}

func termsOf(entries []Entry) []uint64 {
	terms := make([]uint64, len(entries))
	for i, entry := range entries {
		terms[i] = entry.Term
	}
	return terms
}

// The AppendEntries consistency check (Raft §5.3): a follower accepts
// entries only if it holds the entry preceding them, with the same term.
func TestAppendConsistencyCheck(t *testing.T) {
	follower := newFollowerWithLog(t, 2, []uint64{1, 1, 2}, 0)
	reject := stepAndReady(t, follower, Message{Type: MessageAppend, From: 1, To: 2, Term: 3, LogIndex: 3, LogTerm: 3,
		Entries: []Entry{{Index: 4, Term: 3}}})
	if response := reject.SendAfterPersist[0]; !response.Reject || len(reject.Entries) != 0 {
		t.Fatalf("append after a mismatching entry 3/3 was accepted: %v, entries %v", response, reject.Entries)
	}
	accept := stepAndReady(t, follower, Message{Type: MessageAppend, From: 1, To: 2, Term: 3, LogIndex: 3, LogTerm: 2,
		Entries: []Entry{{Index: 4, Term: 3}}})
	if response := accept.SendAfterPersist[0]; response.Reject || response.Index != 4 {
		t.Fatalf("append after matching entry 3/2 not accepted: %v", response)
	}
}

// A conflicting suffix is removed and replaced by the leader's entries
// (Raft §5.3), but entries that match stay, as do entries after them.
func TestConflictingSuffixIsReplaced(t *testing.T) {
	follower := newFollowerWithLog(t, 2, []uint64{1, 1, 2, 2, 2}, 0)
	ready := stepAndReady(t, follower, Message{Type: MessageAppend, From: 1, To: 2, Term: 3, LogIndex: 2, LogTerm: 1,
		Entries: []Entry{{Index: 3, Term: 3}, {Index: 4, Term: 3}}})
	if got := termsOf(ready.Entries); !slices.Equal(got, []uint64{3, 3}) || ready.Entries[0].Index != 3 {
		t.Fatalf("entries to persist %v from index %d, want terms [3 3] from 3", got, ready.Entries[0].Index)
	}
	if got := termsOf(logEntries(t, follower)); !slices.Equal(got, []uint64{1, 1, 3, 3}) {
		t.Fatalf("log terms %v, want [1 1 3 3]", got)
	}
	// A duplicate of an older, shorter append must not cut the log.
	stepAndReady(t, follower, Message{Type: MessageAppend, From: 1, To: 2, Term: 3, LogIndex: 2, LogTerm: 1,
		Entries: []Entry{{Index: 3, Term: 3}}})
	if got := termsOf(logEntries(t, follower)); !slices.Equal(got, []uint64{1, 1, 3, 3}) {
		t.Fatalf("after a duplicate append the log is %v, want [1 1 3 3]", got)
	}
}

// A committed entry is never truncated: the core refuses loudly rather than
// lose it.
func TestCommittedEntryIsNeverTruncated(t *testing.T) {
	follower := newFollowerWithLog(t, 2, []uint64{1, 1, 2}, 3)
	defer func() {
		if recover() == nil {
			t.Fatal("truncating committed entry 3 did not panic")
		}
	}()
	follower.log.appendFollower(2, 1, []Entry{{Index: 3, Term: 3}})
}

// A rejection carries a hint so the leader backs up one term per round trip,
// not one entry (Raft §5.3).
func TestConflictHintRepairsOneTermPerRoundTrip(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, func(c *Config) { c.DisableCheckQuorum = true })
		// All agree on entries 1..5 of term 1. Nodes 1 and 2 then hold 35
		// entries of term 4; node 3 holds 25 divergent ones of terms 2 and 3,
		// written by leaders nobody else followed.
		makeLog := func(terms func(index uint64) uint64, last uint64) []Entry {
			var entries []Entry
			for index := uint64(1); index <= last; index++ {
				entries = append(entries, Entry{Index: index, Term: terms(index), Data: []byte("x")})
			}
			return entries
		}
		majority := makeLog(func(i uint64) uint64 {
			if i <= 5 {
				return 1
			}
			return 4
		}, 40)
		divergent := makeLog(func(i uint64) uint64 {
			switch {
			case i <= 5:
				return 1
			case i <= 15:
				return 2
			}
			return 3
		}, 30)
		for id, entries := range map[NodeID][]Entry{1: majority, 2: majority, 3: divergent} {
			storage := cluster.nodes[id].storage
			if err := storage.Append(entries); err != nil {
				t.Fatal(err)
			}
			storage.SetHardState(HardState{Term: entries[len(entries)-1].Term, Commit: 5})
			cluster.crash(id)
		}
		rejections := 0
		cluster.drop = func(m Message) bool {
			if m.Type == MessageAppendResponse && m.Reject && m.From == 3 {
				rejections++
			}
			return false
		}
		cluster.elect(1)
		cluster.tickAll(3)
		if got, want := termsOf(logEntries(t, cluster.core(3))), termsOf(logEntries(t, cluster.core(1))); !slices.Equal(got, want) {
			t.Fatalf("node 3 not repaired: %v, leader %v", got, want)
		}
		// One rejection skips both divergent terms at once: node 3's hint
		// (index 30, term 3) maps to the leader's last entry of term <= 3,
		// index 5. Backing up one entry at a time would take 36.
		if rejections > 2 {
			t.Fatalf("%d rejections to repair a follower with two divergent terms; the hint should need at most 2", rejections)
		}
	})
}

// The leader appends an empty entry of its term when elected (Raft §5.4.2)
// and commits only entries of its own term by counting replicas (Figure 8).
func TestLeaderAppendsEmptyEntryWhenElected(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		leader := cluster.core(1)
		entries := logEntries(t, leader)
		if len(entries) != 1 || entries[0].Term != leader.term || len(entries[0].Data) != 0 {
			t.Fatalf("log after election %v, want one empty entry of term %d", entries, leader.term)
		}
		if leader.log.committed != 1 {
			t.Fatalf("the empty entry was not committed: commit %d", leader.log.committed)
		}
	})
}

// Followers learn the commit index from the leader's appends and
// heartbeats, and apply up to it.
func TestFollowersLearnCommitIndex(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		index, _ := cluster.propose(1, "a")
		for _, id := range []NodeID{2, 3} {
			if got := cluster.core(id).log.committed; got != index {
				t.Errorf("node %d commit %d, want %d", id, got, index)
			}
			if got := cluster.appliedCommands(id); !slices.Equal(got, []string{"a"}) {
				t.Errorf("node %d applied %v", id, got)
			}
		}
	})
}

// Propose on a follower fails with a typed error naming the leader.
func TestProposeOnFollowerNamesLeader(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(2)
		_, _, err := cluster.core(1).Propose([]byte("x"))
		var notLeader *NotLeaderError
		if !errors.As(err, &notLeader) || notLeader.Leader != 2 {
			t.Fatalf("propose on a follower: %v, want NotLeaderError naming node 2", err)
		}
	})
}

// The synchronous persistence contract: the leader's appends may leave
// before its own write is durable (SendNow), but it counts itself towards
// a quorum only once Advance reports the write done; a follower's
// acknowledgement leaves only after its write (SendAfterPersist).
// TestAsyncLeaderCountsItselfOnlyAfterPersisted is its asynchronous
// counterpart.
func TestSyncLeaderCountsItselfOnlyOnceDurable(t *testing.T) {
	cluster := newTestCluster(t, synchronous, 1, nil)
	cluster.elect(1)
	leader := cluster.core(1)
	index, _, err := leader.Propose([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	ready := leader.Ready()
	if len(ready.Entries) != 1 || len(ready.CommittedEntries) != 0 || leader.log.committed >= index {
		t.Fatalf("single node committed %d before its write was durable (commit %d)", index, leader.log.committed)
	}
	cluster.nodes[1].storage.Append(ready.Entries)
	leader.Advance(ready)
	if leader.log.committed != index {
		t.Fatalf("after the write became durable commit is %d, want %d", leader.log.committed, index)
	}

	three := newTestCluster(t, synchronous, 3, nil)
	three.elect(1)
	if _, _, err := three.core(1).Propose([]byte("y")); err != nil {
		t.Fatal(err)
	}
	leaderReady := three.core(1).Ready()
	if len(leaderReady.SendNow) != 2 || len(leaderReady.SendAfterPersist) != 0 {
		t.Fatalf("leader appends should leave before persisting: now %v after %v", leaderReady.SendNow, leaderReady.SendAfterPersist)
	}
	followerReady := stepAndReady(t, three.core(2), leaderReady.SendNow[0])
	if len(followerReady.SendNow) != 0 || len(followerReady.SendAfterPersist) != 1 {
		t.Fatalf("follower acknowledgement must wait for its write: now %v after %v", followerReady.SendNow, followerReady.SendAfterPersist)
	}
}

// Many proposals made between two Readies travel in one append per
// follower.
func TestProposalsAreBatched(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		leader := cluster.core(1)
		for i := 0; i < 100; i++ {
			if _, _, err := leader.Propose([]byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		ready := persistAndAdvance(t, leader)
		if len(ready.SendNow) != 2 || len(ready.SendNow[0].Entries) != 100 {
			t.Fatalf("100 proposals sent as %d messages (first with %d entries), want 2 of 100", len(ready.SendNow), len(ready.SendNow[0].Entries))
		}
	})
}

// Appends respect the byte limit, and the pipeline to a follower holds at
// most MaxInflightAppends unacknowledged appends.
func TestFlowControlBoundsMessagesAndInflight(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		const maxInflight = 4
		cluster := newTestCluster(t, mode, 3, func(c *Config) { c.MaxAppendBytes = 3 * (entryOverhead + 10); c.MaxInflightAppends = maxInflight })
		cluster.elect(1)
		cluster.propose(1, "warm-up") // acknowledged: both followers now pipelined
		leader := cluster.core(1)
		for id, follower := range leader.Status().Followers {
			if !follower.Replicating {
				t.Fatalf("setup: follower %d not in pipeline mode", id)
			}
		}
		// Hold every acknowledgement back.
		cluster.drop = func(m Message) bool { return m.Type == MessageAppendResponse }
		inflight := map[NodeID]int{}
		for round := 0; round < 10; round++ {
			for i := 0; i < 10; i++ {
				if _, _, err := leader.Propose([]byte("0123456789")); err != nil {
					t.Fatal(err)
				}
			}
			ready := persistAndAdvance(t, leader)
			for _, m := range ready.SendNow {
				if m.Type != MessageAppend {
					continue
				}
				inflight[m.To]++
				if len(m.Entries) > 3 {
					t.Fatalf("append carries %d entries of 10 bytes with a limit of 3", len(m.Entries))
				}
			}
		}
		for id, count := range inflight {
			if count > maxInflight {
				t.Fatalf("%d appends in flight to node %d, limit %d", count, id, maxInflight)
			}
		}
		if inflight[2] != maxInflight {
			t.Fatalf("pipeline to node 2 holds %d appends, want it full at %d", inflight[2], maxInflight)
		}
	})
}

// A lost append in the pipeline is repaired: the heartbeat response makes
// the leader probe, and the follower catches up.
func TestLostAppendIsRepaired(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		cluster.propose(1, "a")
		lost := 0
		cluster.drop = func(m Message) bool {
			if m.Type == MessageAppend && m.To == 3 && len(m.Entries) > 0 && lost == 0 {
				lost++
				return true
			}
			return false
		}
		cluster.propose(1, "b")
		if lost != 1 {
			t.Fatal("no append was dropped")
		}
		cluster.tickAll(2)
		if got := cluster.appliedCommands(3); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("node 3 applied %v after a lost append, want [a b]", got)
		}
	})
}

// MaxUncommittedBytes makes a leader cut off from its followers refuse
// proposals instead of growing without bound.
func TestUncommittedBytesLimit(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, func(c *Config) { c.MaxUncommittedBytes = 100 })
		cluster.elect(1)
		cluster.isolate(1)
		accepted := 0
		var err error
		for err == nil && accepted < 1000 {
			_, _, err = cluster.core(1).Propose(make([]byte, 30))
			if err == nil {
				accepted++
			}
		}
		if !errors.Is(err, ErrProposalDropped) || accepted != 3 {
			t.Fatalf("accepted %d proposals of 30 bytes under a 100-byte limit, then %v", accepted, err)
		}
	})
}

// Malformed or misaddressed messages are refused with ErrInvalidMessage and
// change nothing.
func TestInvalidMessagesAreRefused(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		core := cluster.core(1)
		for _, m := range []Message{
			{Type: MessageAppend, From: 2, To: 3, Term: 1},
			{Type: MessageAppend, From: 0, To: 1, Term: 1},
			{Type: MessageAppend, From: 1, To: 1, Term: 1},
			{Type: MessageType(99), From: 2, To: 1, Term: 1},
			{Type: MessageHeartbeat, From: 2, To: 1, Term: 0},
			{Type: MessageAppend, From: 2, To: 1, Term: 1, LogIndex: 0, Entries: []Entry{{Index: 5, Term: 1}}},
			{Type: MessageAppend, From: 2, To: 1, Term: 1, LogIndex: 0, Entries: []Entry{{Index: 1, Term: 2}}},
			{Type: MessageAppend, From: 2, To: 1, Term: 2, LogIndex: 1, LogTerm: 2, Entries: []Entry{{Index: 2, Term: 1}}},
		} {
			if err := core.Step(m); !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("%v: error %v, want ErrInvalidMessage", m, err)
			}
		}
		if core.term != 0 || core.HasReady() {
			t.Fatalf("invalid messages changed the core: term %d, has ready %v", core.term, core.HasReady())
		}
	})
}

// A node restarted from its persisted hard state and log resumes in its
// term, keeps its vote, does not re-apply what it applied, and catches up.
func TestRestartFromPersistedState(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		cluster.propose(1, "a")
		cluster.propose(1, "b")
		cluster.tickAll(1)
		before := cluster.core(2)
		term, vote := before.term, before.vote
		cluster.crash(2)
		after := cluster.core(2)
		if after.term != term || after.vote != vote || after.log.lastIndex() != before.log.lastIndex() {
			t.Fatalf("restart: term %d vote %d last %d, want %d %d %d", after.term, after.vote, after.log.lastIndex(), term, vote, before.log.lastIndex())
		}
		cluster.propose(1, "c")
		cluster.tickAll(1)
		if got := cluster.appliedCommands(2); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("restarted node applied %v, want [a b c] exactly once each", got)
		}
		// The vote it cast before the crash still binds it in that term.
		if err := after.Step(Message{Type: MessageVote, From: 3, To: 2, Term: term, LogIndex: 100, LogTerm: term}); err != nil {
			t.Fatal(err)
		}
		ready := after.Ready()
		after.Advance(ready)
		for _, m := range ready.SendAfterPersist {
			if m.Type == MessageVoteResponse && !m.Reject && vote != None && vote != 3 {
				t.Fatalf("restarted node voted twice in term %d", term)
			}
		}
	})
}

// A follower learns a commit index only up to what the leader's message
// proves matches: entries past the append's last entry may be stale ones
// from a deposed leader and must not be committed.
func TestFollowerCommitsOnlyVerifiedPrefix(t *testing.T) {
	// Entries 3..5 of term 2 were written by a leader nobody else followed.
	follower := newFollowerWithLog(t, 2, []uint64{1, 1, 2, 2, 2}, 0)
	// The term-3 leader, whose log is 1 1 3 3 3 with all five committed,
	// probes at index 2 with nothing after it.
	stepAndReady(t, follower, Message{Type: MessageAppend, From: 1, To: 2, Term: 3, LogIndex: 2, LogTerm: 1, Commit: 5})
	if follower.log.committed != 2 {
		t.Fatalf("follower committed %d; only 2 is known to match the leader", follower.log.committed)
	}
}

// A heartbeat carries no consistency check, so the commit index it carries
// is capped at what the follower is known to hold.
func TestHeartbeatCommitCappedAtMatch(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		cluster.isolate(3)
		cluster.heal()
		cluster.cutLink(1, 3)
		for i := 0; i < 5; i++ {
			cluster.propose(1, "x")
		}
		leader := cluster.core(1)
		match := leader.Status().Followers[3].Match
		if leader.log.committed <= match {
			t.Fatalf("setup: commit %d not beyond node 3's match %d", leader.log.committed, match)
		}
		leader.Tick()
		ready := persistAndAdvance(t, leader)
		for _, m := range ready.SendNow {
			if m.Type == MessageHeartbeat && m.To == 3 && m.Commit > match {
				t.Fatalf("heartbeat to node 3 carries commit %d beyond its match %d", m.Commit, match)
			}
		}
	})
}
