package raft

import (
	"slices"
	"testing"
)

// The scenarios of the chapter lockstep started from, each driven step by
// step. Their names say what they show.

// Scenario 1: an entry that exists only on the leader may be lost when the
// leader crashes — and that is allowed, because no client was told it
// committed.
func TestScenarioEntryOnlyOnLeaderIsLostWhenLeaderCrashes(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		cluster.isolate(1)
		index, term := cluster.propose(1, "only-on-leader")
		if cluster.core(1).log.committed >= index {
			t.Fatalf("an entry held by one node of three was committed")
		}
		// The leader crashes; the other two elect a leader and move on.
		cluster.down[1] = true
		cluster.heal()
		cluster.elect(2)
		cluster.propose(2, "after-crash")
		cluster.restart(1)
		cluster.tickAll(3)
		for _, id := range cluster.ids {
			if got := cluster.appliedCommands(id); !slices.Equal(got, []string{"after-crash"}) {
				t.Errorf("node %d applied %v, want only [after-crash]", id, got)
			}
		}
		if got := cluster.core(1).log.termOrZero(index); got == term {
			t.Errorf("the old leader still holds its uncommitted entry at %d", index)
		}
	})
}

// Scenario 2: an entry reached a quorum (the leader and one follower of
// three), and the leader crashed before it advanced its commit index. The
// follower holding the entry has the more up-to-date log, so the other
// follower cannot win; the holder wins, and the entry is committed and
// applied everywhere.
func TestScenarioEntryOnQuorumSurvivesLeaderCrashBeforeCommit(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		// Node 3 never receives the entry, and node 2's acknowledgement never
		// reaches the leader: the entry is durable on 1 and 2, committed
		// nowhere.
		cluster.drop = func(m Message) bool {
			return (m.From == 1 && m.To == 3) || (m.From == 2 && m.To == 1 && m.Type == MessageAppendResponse)
		}
		index, term := cluster.propose(1, "on-a-quorum")
		if cluster.core(1).log.committed >= index || cluster.core(2).log.termOrZero(index) != term {
			t.Fatalf("setup: leader commit %d, node 2 term at %d: %d", cluster.core(1).log.committed, index, cluster.core(2).log.termOrZero(index))
		}
		cluster.drop = nil
		cluster.down[1] = true
		// Node 3's log is behind node 2's: node 2 refuses it, and with node 1
		// down it cannot reach a majority.
		if cluster.tryElect(3) {
			t.Fatalf("node 3, missing a quorum-held entry, won an election")
		}
		cluster.elect(2)
		cluster.restart(1)
		cluster.tickAll(3)
		for _, id := range cluster.ids {
			if got := cluster.appliedCommands(id); !slices.Equal(got, []string{"on-a-quorum"}) {
				t.Errorf("node %d applied %v, want [on-a-quorum]", id, got)
			}
		}
	})
}

// Scenario 3, Raft's Figure 8: an entry of an older term stored on a
// majority must not be committed by counting replicas, because a candidate
// whose last entry has a newer term can still win and overwrite it. The
// current-term rule (Raft §5.4.2) prevents the loss.
func TestScenarioFigure8OldTermEntryNotCommittedByCounting(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		// One entry per append, so entries travel separately as in the figure.
		cluster := newTestCluster(t, mode, 5, func(c *Config) { c.MaxAppendBytes = 1 })
		// (a) Node 1 leads and replicates index 2 to node 2 only.
		cluster.elect(1)
		cluster.drop = func(m Message) bool { return m.From == 1 && m.To != 2 && m.Type == MessageAppend }
		oldIndex, oldTerm := cluster.propose(1, "old-term")
		if oldIndex != 2 {
			t.Fatalf("setup: old entry at %d, want 2", oldIndex)
		}
		// (b) Node 1 crashes. Node 5 wins with votes from 3 and 4, and writes
		// an entry of its own term at index 2, which reaches nobody.
		cluster.down[1] = true
		cluster.drop = func(m Message) bool { return m.From == 5 && m.Type == MessageAppend }
		cluster.elect(5)
		if cluster.core(5).log.termOrZero(2) <= oldTerm {
			t.Fatalf("setup: node 5 has no newer entry at 2")
		}
		// (c) Node 5 crashes; node 1 returns and wins a later term. It gets
		// its old entry onto node 3 (a majority: 1, 2, 3), but its own new
		// entry at index 3 reaches only node 2.
		cluster.down[5] = true
		cluster.restart(1)
		cluster.rewrite = func(m Message) Message {
			if m.From == 1 && m.Type == MessageAppend && (m.To == 3 || m.To == 4) {
				// Whatever follows index 2 is lost on the way.
				m.Entries = slices.DeleteFunc(slices.Clone(m.Entries), func(e Entry) bool { return e.Index > 2 })
			}
			return m
		}
		cluster.elect(1)
		cluster.tick(1, 3) // heartbeats: followers answer, the leader repairs node 3
		holders := 0
		for _, id := range cluster.ids {
			if cluster.core(id).log.termOrZero(oldIndex) == oldTerm {
				holders++
			}
		}
		if holders < 3 {
			t.Fatalf("setup: the old entry is on %d nodes, want a majority", holders)
		}
		if committed := cluster.core(1).log.committed; committed >= oldIndex {
			t.Fatalf("leader of term %d committed index %d of term %d by counting replicas (commit %d)", cluster.core(1).term, oldIndex, oldTerm, committed)
		}
		// (d) Node 1 crashes again. Node 5, whose last entry's term is newer
		// than the old entry's, wins with votes from 3 and 4 and overwrites
		// index 2 everywhere. Nothing committed is lost, since index 2 never
		// was committed.
		cluster.down[1] = true
		cluster.drop, cluster.rewrite = nil, nil
		cluster.restart(5)
		cluster.elect(5)
		cluster.propose(5, "new-leader")
		cluster.restart(1)
		cluster.tickAll(3)
		reference := cluster.nodes[5].applied
		for _, id := range cluster.ids {
			applied := cluster.nodes[id].applied
			if !slices.EqualFunc(applied, reference, func(a, b Entry) bool {
				return a.Index == b.Index && a.Term == b.Term && string(a.Data) == string(b.Data)
			}) {
				t.Errorf("node %d applied %v, node 5 applied %v", id, applied, reference)
			}
			if slices.Contains(cluster.appliedCommands(id), "old-term") {
				t.Errorf("node %d applied the overwritten old-term entry", id)
			}
		}
	})
}

// Scenario 3, the other half: once the leader's own-term entry is on a
// majority, the old-term entry before it commits with it, and the candidate
// with the newer-term entry can no longer win.
func TestScenarioFigure8CurrentTermEntryCommitsEarlierOnes(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 5, func(c *Config) { c.MaxAppendBytes = 1 })
		cluster.elect(1)
		cluster.drop = func(m Message) bool { return m.From == 1 && m.To != 2 && m.Type == MessageAppend }
		oldIndex, _ := cluster.propose(1, "old-term")
		cluster.down[1] = true
		cluster.drop = func(m Message) bool { return m.From == 5 && m.Type == MessageAppend }
		cluster.elect(5)
		cluster.down[5] = true
		cluster.restart(1)
		cluster.drop = func(m Message) bool { return m.From == 1 && m.To == 4 }
		cluster.elect(1)
		if committed := cluster.core(1).log.committed; committed <= oldIndex {
			t.Fatalf("leader's own entry on a majority did not commit the old one: commit %d", committed)
		}
		cluster.down[1] = true
		cluster.drop = nil
		cluster.restart(5)
		if cluster.tryElect(5) {
			t.Fatalf("node 5 won although a majority holds a newer committed entry")
		}
	})
}

// Scenario 4a: a leader partitioned away with a stale term commits nothing,
// and its uncommitted entry is replaced once it rejoins. With CheckQuorum it
// also steps down by itself.
func TestScenarioPartitionedOldLeaderCommitsNothing(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, nil)
		cluster.elect(1)
		cluster.propose(1, "before")
		cluster.isolate(1)
		staleIndex, _ := cluster.propose(1, "stale-leader")
		cluster.elect(2)
		cluster.propose(2, "new-leader")
		if cluster.core(1).log.committed >= staleIndex {
			t.Fatalf("the partitioned old leader committed %d", staleIndex)
		}
		// CheckQuorum: within two election timeouts it notices it has no
		// quorum and steps down.
		for i := 0; i < 2*cluster.core(1).config.ElectionTicks; i++ {
			cluster.core(1).Tick()
			cluster.deliver()
		}
		if cluster.core(1).role == RoleLeader {
			t.Fatalf("isolated leader still leads after two election timeouts")
		}
		cluster.heal()
		cluster.tickAll(3)
		for _, id := range cluster.ids {
			if got := cluster.appliedCommands(id); !slices.Equal(got, []string{"before", "new-leader"}) {
				t.Errorf("node %d applied %v, want [before new-leader]", id, got)
			}
		}
	})
}

// Scenario 4b: a follower partitioned away keeps timing out, but with
// PreVote it never raises its term (nobody would vote for it), so when it
// rejoins the healthy leader stays in office.
func TestScenarioRejoiningFollowerDoesNotDisruptWithPreVote(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		run := func(preVote bool) (leaderKept bool, rejoinerTerm, leaderTerm uint64) {
			cluster := newTestCluster(t, mode, 3, func(c *Config) {
				c.DisablePreVote = !preVote
				c.DisableCheckQuorum = !preVote
			})
			cluster.elect(1)
			term := cluster.core(1).term
			cluster.isolate(3)
			cluster.tickAll(100) // ten election timeouts and more
			rejoinerTerm = cluster.core(3).term
			cluster.heal()
			cluster.tickAll(5)
			return cluster.core(1).role == RoleLeader && cluster.core(1).term == term, rejoinerTerm, term
		}
		kept, rejoinerTerm, leaderTerm := run(true)
		if !kept || rejoinerTerm != leaderTerm {
			t.Fatalf("with PreVote: leader kept %v; partitioned follower's term %d, leader's %d", kept, rejoinerTerm, leaderTerm)
		}
		// Without PreVote the same partition does depose the leader: this is
		// what PreVote is for.
		if kept, rejoinerTerm, leaderTerm := run(false); kept || rejoinerTerm <= leaderTerm {
			t.Fatalf("without PreVote the rejoining follower (term %d vs %d) should have deposed the leader", rejoinerTerm, leaderTerm)
		}
	})
}

// With CheckQuorum, a follower that heard from its leader within the
// election timeout ignores a vote request, even of a higher term, so a
// node that was cut off cannot depose a leader that still has a quorum.
func TestFollowerInLeaseIgnoresVoteRequests(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster := newTestCluster(t, mode, 3, func(c *Config) { c.DisablePreVote = true })
		cluster.elect(1)
		cluster.tickAll(1)
		follower := cluster.core(2)
		term := follower.term
		last := follower.log.lastIndex()
		if err := follower.Step(Message{Type: MessageVote, From: 3, To: 2, Term: term + 1, LogIndex: last + 5, LogTerm: term}); err != nil {
			t.Fatal(err)
		}
		if follower.term != term || follower.vote == 3 {
			t.Fatalf("follower in a leader's lease adopted term %d / voted %d", follower.term, follower.vote)
		}
	})
}
