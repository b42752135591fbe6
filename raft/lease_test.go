package raft

import (
	"math/rand/v2"
	"testing"
)

func withLeaseReads(c *Config) { c.LeaseReads = true; c.MaxClockDriftTicks = 2 }

// With LeaseReads, a leader whose lease is fresh answers a read at once,
// without a heartbeat round; once the lease runs out it falls back to one.
func TestLeaseReadsAnswerAtOnceWhileTheLeaseHolds(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, withLeaseReads)
		cluster.elect(1)
		cluster.propose(1, "a")
		cluster.tickAll(1) // a heartbeat round: the lease starts
		leader := cluster.core(1)
		if err := leader.ReadIndex([]byte("fast")); err != nil {
			t.Fatal(err)
		}
		ready := persistAndAdvance(t, leader)
		if len(ready.ReadStates) != 1 || ready.ReadStates[0].Index != leader.log.committed {
			t.Fatalf("lease read not answered at once: %v", ready.ReadStates)
		}
		// Cut off, the leader's lease runs out after ElectionTicks - drift.
		cluster.isolate(1)
		for i := 0; i < leader.config.ElectionTicks-leader.config.MaxClockDriftTicks; i++ {
			leader.Tick()
			cluster.deliver()
		}
		if err := leader.ReadIndex([]byte("late")); err != nil {
			t.Fatal(err)
		}
		cluster.deliver()
		if states := readStatesOf(cluster, 1); len(states) != 0 {
			t.Fatalf("read answered on an expired lease: %v", states)
		}
	})
}

// A restarted follower with LeaseReads refuses votes for an election
// timeout: it may have backed a lease before it crashed.
func TestRestartedFollowerHonorsLease(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, withLeaseReads)
		cluster.elect(1)
		cluster.crash(2)
		follower := cluster.core(2)
		term := follower.term
		if err := follower.Step(Message{Type: MessageVote, From: 3, To: 2, Term: term + 1, LogIndex: 99, LogTerm: term}); err != nil {
			t.Fatal(err)
		}
		if follower.term != term {
			t.Fatalf("restarted follower adopted term %d from a vote request within its lease", follower.term)
		}
	})
}

// A follower in a leader's lease answers a transfer vote only if the leader
// announced the transfer: a stale TimeoutNow cannot break a lease.
func TestTransferVoteNeedsAnnouncedTransfer(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, withLeaseReads)
		cluster.elect(1)
		cluster.tickAll(1)
		follower := cluster.core(2)
		term := follower.term
		vote := Message{Type: MessageVote, From: 3, To: 2, Term: term + 1, LogIndex: 99, LogTerm: term, Transfer: true}
		if err := follower.Step(vote); err != nil {
			t.Fatal(err)
		}
		if follower.term != term {
			t.Fatal("unannounced transfer vote broke the lease")
		}
		follower.leaderTransferring = true
		if err := follower.Step(vote); err != nil {
			t.Fatal(err)
		}
		if follower.term != term+1 || follower.vote != 3 {
			t.Fatalf("announced transfer vote not granted: term %d vote %d", follower.term, follower.vote)
		}
	})
}

func TestLeaseReadsRequireCheckQuorumAndDriftBound(t *testing.T) {
	base := Config{ID: 1, Storage: NewMemoryStorage(), Random: rand.NewPCG(1, 1), InitialMembership: Membership{Voters: []NodeID{1}}, LeaseReads: true}
	for name, change := range map[string]func(*Config){
		"no CheckQuorum": func(c *Config) { c.DisableCheckQuorum = true; c.MaxClockDriftTicks = 1 },
		"no drift bound": func(c *Config) {},
		"drift too big":  func(c *Config) { c.MaxClockDriftTicks = 10 },
	} {
		config := base
		change(&config)
		if _, err := NewCore(config); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
