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
		if follower.term != term || follower.role != RoleFollower {
			t.Fatalf("a stale TimeoutNow made the follower stand: %s in term %d", follower.role, follower.term)
		}
		if err := follower.Step(Message{Type: MessageTimeoutNow, From: 1, To: 2, Term: term, Index: 30}); err != nil {
			t.Fatal(err)
		}
		if follower.term != term+1 || follower.role != RoleCandidate {
			t.Fatalf("a current TimeoutNow was not obeyed: %s in term %d", follower.role, follower.term)
		}
	})
}
