package raft

import "testing"

// A TimeoutNow the leader sent before a plain heartbeat (no Transfer) that
// this follower echoed belongs to a transfer since abandoned: the echo may
// back the lease the leader resumed, so the follower must not stand on it.
// A current one (sent at or after that heartbeat) is obeyed. (sim seed
// 28958 --nodes 5 --async: the stale TimeoutNow, delayed past the
// abandonment, made its target stand inside the resumed lease, and the
// deposed leader served a stale lease read.)
func TestStaleTimeoutNowDoesNotBreakTheLease(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		follower, step := leaseFollower(t, mode, false)
		term := follower.term
		// The leader's clock: the transfer began at 10 (its TimeoutNow
		// stamped 10), was abandoned at 20, and a heartbeat of 21 was
		// echoed.
		step(Message{Type: MessageHeartbeat, Index: 21})
		step(Message{Type: MessageTimeoutNow, Index: 10})
		requireRole(t, follower, RoleFollower, term, "a stale TimeoutNow made the follower stand")
		step(Message{Type: MessageTimeoutNow, Index: 30})
		requireRole(t, follower, RoleCandidate, term+1, "a current TimeoutNow was not obeyed")
	})
}

// A restarted follower no longer knows which heartbeats it echoed before
// it crashed, and one of them may back the leader's resumed lease; nothing
// the leader sends can tell it (a late announcement of an abandoned
// transfer looks current: TestRestartedTargetIgnoresALateAnnouncement; a
// late plain heartbeat may be older than what it echoed), so it obeys no
// stamped TimeoutNow during its first election timeout, after which every
// lease its old echoes backed has run out, and it judges by the stamp.
func TestRestartedTargetObeysNoTimeoutNowForAnElectionTimeout(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		follower, step := leaseFollower(t, mode, true)
		term := follower.term
		// The leader's clock: a transfer began at 10 and was abandoned
		// at 20; before crashing, the follower echoed a heartbeat of 21.
		// Its announcement and TimeoutNow of 10 arrive after the restart.
		step(Message{Type: MessageAppend, LogIndex: follower.log.lastIndex(), LogTerm: follower.log.lastTerm()})
		step(Message{Type: MessageHeartbeat, Index: 10, Transfer: true})
		step(Message{Type: MessageTimeoutNow, Index: 10})
		requireRole(t, follower, RoleFollower, term, "a stale, announced TimeoutNow made the restarted follower stand")
		// Nor does a plain echo since the restart (a late one, of 5) tell it.
		step(Message{Type: MessageHeartbeat, Index: 5})
		step(Message{Type: MessageTimeoutNow, Index: 10})
		requireRole(t, follower, RoleFollower, term, "a stale TimeoutNow made the restarted follower stand after a late echo")
		// An election timeout later, having echoed the leader's clock up
		// to 40, it judges by the stamp again.
		for i := 0; i < follower.config.ElectionTicks; i++ {
			follower.Tick()
			step(Message{Type: MessageHeartbeat, Index: uint64(31 + i)})
		}
		step(Message{Type: MessageTimeoutNow, Index: 35})
		requireRole(t, follower, RoleFollower, term, "a TimeoutNow older than the echoed heartbeat was obeyed")
		step(Message{Type: MessageHeartbeat, Index: 41, Transfer: true})
		step(Message{Type: MessageTimeoutNow, Index: 41})
		requireRole(t, follower, RoleCandidate, term+1, "a current TimeoutNow was not obeyed an election timeout after the restart")
	})
}

// leaseFollower starts a 3-node cluster with LeaseReads led by node 1,
// restarts node 2 from its storage if restart, and returns node 2's core
// and a function that steps a message from the leader into it, in its
// term.
func leaseFollower(t *testing.T, mode persistence, restart bool) (*Core, func(Message)) {
	t.Helper()
	cluster := newTestCluster(t, mode, 3, withLeaseReads)
	cluster.elect(1)
	cluster.tickAll(1)
	if restart {
		cluster.crash(2)
	}
	follower := cluster.core(2)
	term := follower.term
	return follower, func(m Message) {
		t.Helper()
		m.From, m.To, m.Term = 1, 2, term
		if err := follower.Step(m); err != nil {
			t.Fatal(err)
		}
	}
}

// requireRole fails the test with what unless core is in role and term.
func requireRole(t *testing.T, core *Core, role Role, term uint64, what string) {
	t.Helper()
	if core.role != role || core.term != term {
		t.Fatalf("%s: %s in term %d", what, core.role, core.term)
	}
}
