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
		cluster := newTestCluster(t, mode, 3, withLeaseReads)
		cluster.elect(1)
		cluster.tickAll(1)
		follower := cluster.core(2)
		term := follower.term
		// The leader's clock: the transfer began at 10 (its TimeoutNow
		// stamped 10), was abandoned at 20, and a heartbeat of 21 was
		// echoed.
		if err := follower.Step(Message{Type: MessageHeartbeat, From: 1, To: 2, Term: term, Index: 21}); err != nil {
			t.Fatal(err)
		}
		if err := follower.Step(Message{Type: MessageTimeoutNow, From: 1, To: 2, Term: term, Index: 10}); err != nil {
			t.Fatal(err)
		}
		requireRole(t, follower, RoleFollower, term, "a stale TimeoutNow made the follower stand")
		if err := follower.Step(Message{Type: MessageTimeoutNow, From: 1, To: 2, Term: term, Index: 30}); err != nil {
			t.Fatal(err)
		}
		requireRole(t, follower, RoleCandidate, term+1, "a current TimeoutNow was not obeyed")
	})
}

// A restarted follower no longer knows which heartbeats it echoed before
// it crashed, and one of them may back the leader's resumed lease: a
// stamped TimeoutNow that reaches it before it echoes a plain heartbeat
// again is obeyed only while the leader announces a transfer.
func TestRestartedTargetObeysTimeoutNowOnlyWhileATransferIsAnnounced(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		follower, step := restartedFollower(t, mode)
		term := follower.term
		// The leader's clock: a transfer began at 10 and was abandoned
		// at 20; before crashing, the follower echoed a heartbeat of 21.
		// Its TimeoutNow of 10 arrives after the restart, behind an
		// append (which carries no clock).
		step(Message{Type: MessageAppend, LogIndex: follower.log.lastIndex(), LogTerm: follower.log.lastTerm()})
		step(Message{Type: MessageTimeoutNow, Index: 10})
		requireRole(t, follower, RoleFollower, term, "a stale TimeoutNow made the restarted follower stand")
		// A transfer announced since the restart: the leader holds no
		// lease while it hands over.
		step(Message{Type: MessageHeartbeat, Index: 30, Transfer: true})
		step(Message{Type: MessageTimeoutNow, Index: 30})
		requireRole(t, follower, RoleCandidate, term+1, "an announced TimeoutNow was not obeyed")
	})
}

// Once a restarted follower echoes a plain heartbeat, it knows the
// leader's clock again and judges a TimeoutNow by its stamp, as before.
func TestRestartedTargetJudgesTimeoutNowByItsStampAfterAnEcho(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		follower, step := restartedFollower(t, mode)
		term := follower.term
		step(Message{Type: MessageHeartbeat, Index: 21})
		step(Message{Type: MessageTimeoutNow, Index: 10})
		if follower.role != RoleFollower {
			t.Fatalf("a TimeoutNow older than the echoed heartbeat was obeyed: %s", follower.role)
		}
		step(Message{Type: MessageTimeoutNow, Index: 30})
		requireRole(t, follower, RoleCandidate, term+1, "a current TimeoutNow was not obeyed after the echo")
	})
}

// restartedFollower starts a 3-node cluster with LeaseReads led by node 1,
// restarts node 2 from its storage, and returns node 2's core and a
// function that steps a message from the leader into it, in its term.
func restartedFollower(t *testing.T, mode persistence) (*Core, func(Message)) {
	t.Helper()
	cluster := newTestCluster(t, mode, 3, withLeaseReads)
	cluster.elect(1)
	cluster.tickAll(1)
	cluster.crash(2)
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
