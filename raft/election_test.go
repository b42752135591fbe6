package raft

import (
	"math/rand/v2"
	"testing"
)

// Terms are fencing tokens (Raft §5.1): a message from a lower term is never
// acted upon, and its sender is told the newer term.
func TestMessageFromLowerTermIsRejected(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		cluster.elect(2) // node 2 leads a later term; node 1 followed
		follower := cluster.core(3)
		term := follower.term
		lastIndex := follower.log.lastIndex()
		stale := Message{Type: MessageAppend, From: 1, To: 3, Term: term - 1, LogIndex: lastIndex, LogTerm: term - 1,
			Entries: []Entry{{Index: lastIndex + 1, Term: term - 1, Data: []byte("stale")}}, Commit: lastIndex + 1}
		if err := follower.Step(stale); err != nil {
			t.Fatal(err)
		}
		if follower.log.lastIndex() != lastIndex || follower.term != term {
			t.Fatalf("stale append changed the follower: last index %d (was %d), term %d (was %d)", follower.log.lastIndex(), lastIndex, follower.term, term)
		}
		ready := persistAndAdvance(t, follower)
		if len(ready.SendAfterPersist) != 1 || ready.SendAfterPersist[0].Term != term || ready.SendAfterPersist[0].To != 1 {
			t.Fatalf("stale leader not told the current term: %v", ready.SendAfterPersist)
		}
	})
}

// A message with a higher term turns any node, a leader included, into a
// follower of that term (Raft §5.1).
func TestHigherTermTurnsLeaderIntoFollower(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		leader := cluster.core(1)
		term := leader.term
		if err := leader.Step(Message{Type: MessageAppendResponse, From: 2, To: 1, Term: term + 3, Index: 0}); err != nil {
			t.Fatal(err)
		}
		if leader.role != RoleFollower || leader.term != term+3 || leader.vote != None {
			t.Fatalf("after a higher term: role %s term %d vote %d, want follower in term %d with no vote", leader.role, leader.term, leader.vote, term+3)
		}
	})
}

// At most one vote per term (Raft §5.2), and it is durable before the grant
// leaves (the grant is in SendAfterPersist, the vote in HardState): the
// synchronous contract, where the grant leaves with the Ready that carries
// the vote (TestAsyncVotesAndAcknowledgementsWaitForPersisted is its
// asynchronous counterpart).
func TestSyncOneVotePerTermPersistedBeforeGrant(t *testing.T) {
	cluster := newTestCluster(t, synchronous, 3, func(c *Config) { c.DisableCheckQuorum = true })
	voter := cluster.core(1)
	request := func(from NodeID) Ready {
		if err := voter.Step(Message{Type: MessageVote, From: from, To: 1, Term: 5}); err != nil {
			t.Fatal(err)
		}
		return persistAndAdvance(t, voter)
	}
	first := request(2)
	if len(first.SendNow) != 0 || len(first.SendAfterPersist) != 1 || first.SendAfterPersist[0].Reject {
		t.Fatalf("first request: want one grant after persisting, got now=%v after=%v", first.SendNow, first.SendAfterPersist)
	}
	if first.HardState.Vote != 2 || first.HardState.Term != 5 {
		t.Fatalf("vote not in the hard state to persist: %+v", first.HardState)
	}
	if second := request(3); !second.SendAfterPersist[0].Reject {
		t.Fatalf("second candidate in the same term got a vote too")
	}
	if again := request(2); again.SendAfterPersist[0].Reject {
		t.Fatalf("a retransmitted request from the candidate already voted for was rejected")
	}
}

// The election restriction (Raft §5.4.1): vote only for a candidate whose
// log is at least as up to date, comparing last terms first, then lengths.
func TestVoteRequiresUpToDateLog(t *testing.T) {
	// The voter's log: terms 1, 1, 2 (last index 3, last term 2).
	cases := []struct {
		lastIndex, lastTerm uint64
		grant               bool
	}{
		{3, 2, true},  // identical
		{4, 2, true},  // same term, longer
		{2, 2, false}, // same term, shorter
		{1, 3, true},  // higher last term wins even if shorter
		{9, 1, false}, // lower last term loses even if longer
	}
	for _, c := range cases {
		storage := NewMemoryStorage()
		if err := storage.Append([]Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 2}}); err != nil {
			t.Fatal(err)
		}
		storage.SetHardState(HardState{Term: 2})
		voter, err := NewCore(Config{ID: 1, Storage: storage, Random: rand.NewPCG(1, 1), InitialMembership: Membership{Voters: []NodeID{1, 2, 3}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := voter.Step(Message{Type: MessageVote, From: 2, To: 1, Term: 3, LogIndex: c.lastIndex, LogTerm: c.lastTerm}); err != nil {
			t.Fatal(err)
		}
		ready := voter.Ready()
		granted := len(ready.SendAfterPersist) == 1 && !ready.SendAfterPersist[0].Reject
		if granted != c.grant {
			t.Errorf("candidate last %d/%d: granted=%v, want %v", c.lastIndex, c.lastTerm, granted, c.grant)
		}
	}
}

// A candidate needs a majority of the voters, itself included (Raft §5.2).
func TestCandidateNeedsMajority(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		for _, c := range []struct {
			size, grants int
			win          bool
		}{{3, 1, true}, {3, 0, false}, {5, 1, false}, {5, 2, true}, {7, 2, false}, {7, 3, true}} {
			cluster := newTestCluster(t, mode, c.size, func(config *Config) { config.DisablePreVote = true })
			candidate := cluster.core(1)
			candidate.campaign(false)
			persistAndAdvance(t, candidate)
			for id := 2; id <= c.size; id++ {
				reject := id-2 >= c.grants
				if err := candidate.Step(Message{Type: MessageVoteResponse, From: NodeID(id), To: 1, Term: candidate.term, Reject: reject}); err != nil {
					t.Fatal(err)
				}
				if candidate.role != RoleCandidate {
					break
				}
			}
			if won := candidate.role == RoleLeader; won != c.win {
				t.Errorf("%d nodes, %d grants besides its own: leader=%v, want %v", c.size, c.grants, won, c.win)
			}
		}
	})
}

// The election timeout is randomized in [E, 2E) ticks (Raft §5.2).
func TestElectionTimeoutRandomizedInRange(t *testing.T) {
	const electionTicks = 10
	seen := map[int]bool{}
	for seed := uint64(0); seed < 200; seed++ {
		storage := NewMemoryStorage()
		core, err := NewCore(Config{ID: 1, Storage: storage, Random: rand.NewPCG(seed, 7), ElectionTicks: electionTicks,
			InitialMembership: Membership{Voters: []NodeID{1, 2, 3}}})
		if err != nil {
			t.Fatal(err)
		}
		ticks := 0
		for core.role == RoleFollower {
			core.Tick()
			ticks++
		}
		if ticks < electionTicks || ticks >= 2*electionTicks {
			t.Fatalf("seed %d: campaigned after %d ticks, want [%d, %d)", seed, ticks, electionTicks, 2*electionTicks)
		}
		seen[ticks] = true
	}
	if len(seen) < electionTicks/2 {
		t.Fatalf("timeouts are not randomized: only %v seen", seen)
	}
}

// Only a leader's message or a granted vote resets the election timer: a
// hopeless candidate with a higher term does not hold back everyone else's
// election (Raft Figure 2).
func TestRejectedVoteDoesNotResetElectionTimer(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, func(c *Config) { c.DisableCheckQuorum = true; c.DisablePreVote = true })
		cluster.elect(1)
		cluster.propose(1, "x")
		voter := cluster.core(2)
		voter.electionElapsed = 7
		// Node 3's log is behind: its request is rejected.
		if err := voter.Step(Message{Type: MessageVote, From: 3, To: 2, Term: voter.term + 1, LogIndex: 1, LogTerm: 1}); err != nil {
			t.Fatal(err)
		}
		if voter.electionElapsed != 7 {
			t.Fatalf("rejecting a vote reset the election timer to %d", voter.electionElapsed)
		}
	})
}

// A candidate counts its own vote only once it is durable: a single voter
// that won before persisting, then crashed, could vote for someone else in
// the same term after restarting — two leaders in one term.
func TestOwnVoteCountsOnlyOnceDurable(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 1, nil)
		core := cluster.core(1)
		core.campaign(false)
		if core.role == RoleLeader {
			t.Fatal("single voter leads before its vote for itself is durable")
		}
		persistAndAdvance(t, core)
		if core.role != RoleLeader {
			t.Fatalf("single voter is %s after its vote became durable", core.role)
		}
	})
}
