package raft

import "testing"

// startAbandonedTransfer starts a transfer from leader 1 to target, and
// takes out of the queue every message that belongs to it (the
// announcing heartbeats and the TimeoutNow), so that the test can deliver
// them late, after the transfer was abandoned. It then lets the transfer
// time out, and ticks the leader until it holds its lease again.
func startAbandonedTransfer(t *testing.T, cluster *testCluster, target NodeID) []Message {
	t.Helper()
	leader := cluster.core(1)
	if err := leader.TransferLeadership(target); err != nil {
		t.Fatal(err)
	}
	cluster.process(1)
	var held, kept []Message
	for _, m := range cluster.queue {
		if m.From == 1 && (m.Transfer || m.Type == MessageTimeoutNow) {
			held = append(held, m)
		} else {
			kept = append(kept, m)
		}
	}
	cluster.queue = kept
	if len(held) == 0 {
		t.Fatal("the transfer sent nothing")
	}
	for i := 0; i < leader.config.ElectionTicks+2; i++ {
		cluster.tick(1, 1)
	}
	if leader.role != RoleLeader || leader.transferTarget != None {
		t.Fatalf("the transfer was not abandoned: %s, target %d", leader.role, leader.transferTarget)
	}
	if !leader.holdsLease() {
		t.Fatal("the leader did not resume its lease after the abandoned transfer")
	}
	return held
}

func deliverHeld(t *testing.T, cluster *testCluster, held []Message, keep func(Message) bool) {
	t.Helper()
	for _, m := range held {
		if keep(m) {
			if err := cluster.core(m.To).Step(m); err != nil {
				t.Fatal(err)
			}
			cluster.process(m.To)
		}
	}
}

// expectNoStaleLeaseRead proposes a command on the new leader, then reads
// on the old one: a read answered from the old leader's lease must see it.
func expectNoStaleLeaseRead(t *testing.T, cluster *testCluster, newLeader NodeID) {
	t.Helper()
	if cluster.core(newLeader).role != RoleLeader {
		return // the stale messages were refused: nothing was broken
	}
	index, _ := cluster.propose(newLeader, "written")
	if cluster.core(newLeader).log.committed < index {
		t.Fatalf("the new leader did not commit its write (commit %d < %d)", cluster.core(newLeader).log.committed, index)
	}
	old := cluster.core(1)
	if old.role != RoleLeader {
		return
	}
	if err := old.ReadIndex([]byte("after-write")); err != nil {
		t.Fatal(err)
	}
	ready := persistAndAdvance(t, old)
	for _, state := range ready.ReadStates {
		if state.Index < index {
			t.Fatalf("stale lease read: node 1 (term %d) answered a read at index %d after node %d (term %d) committed a write at %d",
				old.term, state.Index, newLeader, cluster.core(newLeader).term, index)
		}
	}
}

// A heartbeat that announced a transfer since abandoned, delivered late,
// must not make a follower whose echo backs the resumed lease answer a
// transfer vote. Here the target, cut off from the leader's later
// heartbeats, obeys the TimeoutNow of that transfer (it echoed nothing
// since, so its stamp is current to it), and the third node, whose echo
// of a heartbeat sent after the abandonment backs the leader's lease, had
// its leaderTransferring set by the late announcement: it voted, and the
// deposed leader answered a lease read that missed a committed write.
func TestLateTransferAnnouncementDoesNotBreakTheLease(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := leaseClusterWithout(t, mode, 2)
		held := startAbandonedTransfer(t, cluster, 2)
		// The late announcement reaches node 3, then the late TimeoutNow
		// reaches node 2.
		deliverHeld(t, cluster, held, func(m Message) bool { return m.To == 3 })
		deliverHeld(t, cluster, held, func(m Message) bool { return m.To == 2 })
		cluster.deliver()
		expectNoStaleLeaseRead(t, cluster, 2)
	})
}

// The same with a restarted target (616ee52): it has forgotten the
// heartbeats it echoed before the crash, one of which backs the leader's
// resumed lease, and obeys a stamped TimeoutNow while its leader
// "announces a transfer" — but the announcement it sees is the late one
// of the abandoned transfer. The third node is out of the lease (cut off
// from the leader for an election timeout), so it votes.
func TestRestartedTargetIgnoresALateAnnouncement(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := leaseClusterWithout(t, mode, 3)
		held := startAbandonedTransfer(t, cluster, 2)
		// Node 3 has heard from no leader for an election timeout.
		cluster.tick(3, cluster.core(3).config.ElectionTicks)
		// Node 2, whose echoes back the lease, crashes and restarts; the
		// leader's heartbeats no longer reach it.
		cluster.cutLink(1, 2)
		cluster.cutLink(2, 1)
		cluster.crash(2)
		deliverHeld(t, cluster, held, func(m Message) bool { return m.To == 2 })
		cluster.deliver()
		expectNoStaleLeaseRead(t, cluster, 2)
	})
}

// A read round's heartbeat carries no clock (Index 0) and does not back a
// lease; echoing it must not make a restarted follower believe it knows
// what it echoed before the crash. Here the target echoed a heartbeat,
// crashed before the echo arrived, echoed a read round's heartbeat after
// the restart, and then obeyed the late TimeoutNow of an abandoned
// transfer; its first echo then arrived and backed the leader's lease.
func TestRestartedTargetLearnsNothingFromAReadRoundHeartbeat(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := leaseClusterWithout(t, mode, 3)
		leader := cluster.core(1)
		if err := leader.TransferLeadership(2); err != nil {
			t.Fatal(err)
		}
		cluster.process(1)
		var timeoutNow []Message
		kept := cluster.queue[:0]
		for _, m := range cluster.queue {
			if m.Type == MessageTimeoutNow {
				timeoutNow = append(timeoutNow, m)
			} else {
				kept = append(kept, m)
			}
		}
		cluster.queue = kept
		// The transfer is abandoned; the leader's heartbeat after it is
		// echoed by node 2, but the echo is held up.
		var echoes []Message
		cluster.drop = func(m Message) bool {
			if m.Type == MessageHeartbeatResponse && m.From == 2 {
				echoes = append(echoes, m)
				return true
			}
			return false
		}
		for i := 0; i < leader.config.ElectionTicks+2; i++ {
			cluster.tick(1, 1)
		}
		cluster.drop = nil
		if leader.transferTarget != None || len(echoes) == 0 {
			t.Fatalf("setup: transfer target %d, %d echoes held", leader.transferTarget, len(echoes))
		}
		cluster.tick(3, cluster.core(3).config.ElectionTicks)
		cluster.crash(2)
		// A read round: the leader holds no lease yet, so it asks with a
		// heartbeat of Index 0, which the restarted node echoes.
		if err := leader.ReadIndex([]byte("round")); err != nil {
			t.Fatal(err)
		}
		cluster.deliver()
		// The late TimeoutNow, then the held echo reaches the leader.
		cluster.cutLink(1, 2)
		deliverHeld(t, cluster, timeoutNow, func(Message) bool { return true })
		cluster.cutLink(2, 1)
		deliverHeld(t, cluster, echoes, func(Message) bool { return true })
		if !leader.holdsLease() {
			t.Fatal("setup: the held echo did not give the leader its lease")
		}
		cluster.deliver()
		expectNoStaleLeaseRead(t, cluster, 2)
	})
}

// leaseClusterWithout starts a 3-node cluster with LeaseReads led by node
// 1, and cuts the links between the leader and node cut, both ways.
func leaseClusterWithout(t *testing.T, mode persistence, cut NodeID) *testCluster {
	t.Helper()
	cluster := newTestCluster(t, mode, 3, withLeaseReads)
	cluster.elect(1)
	cluster.tickAll(1)
	cluster.cutLink(1, cut)
	cluster.cutLink(cut, 1)
	return cluster
}
