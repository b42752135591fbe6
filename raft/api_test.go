package raft

import (
	"errors"
	"testing"
)

// handleOneReady takes one Ready of node id and handles it as process
// does, after check has looked at it.
func (tc *testCluster) handleOneReady(id NodeID, check func(Ready)) {
	tc.t.Helper()
	node := tc.nodes[id]
	if !node.core.HasReady() {
		tc.t.Fatalf("node %d has no Ready", id)
	}
	ready := node.core.Ready()
	check(ready)
	tc.queue = append(tc.queue, ready.SendNow...)
	if node.core.config.AsyncPersistence {
		tc.queue = append(tc.queue, ready.SendAfterPersist...)
		node.applied = append(node.applied, ready.CommittedEntries...)
		if ready.PersistSequence != 0 {
			node.writes = append(node.writes, Ready{HardState: ready.HardState, Entries: ready.Entries, Snapshot: ready.Snapshot, PersistSequence: ready.PersistSequence})
		}
		node.core.Advance(ready)
		tc.completeWrites(id, len(node.writes))
		return
	}
	tc.write(id, ready)
	tc.queue = append(tc.queue, ready.SendAfterPersist...)
	node.applied = append(node.applied, ready.CommittedEntries...)
	node.core.Advance(ready)
}

// An empty command is refused, so that the only EntryNormal with empty
// Data a node ever applies is a leader's first entry of its term.
func TestEmptyCommandIsRefused(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		tc := newTestCluster(t, mode, 3, nil)
		tc.elect(1)
		last := tc.core(1).Status().LastIndex
		for _, command := range [][]byte{nil, {}} {
			if _, _, err := tc.core(1).Propose(command); !errors.Is(err, ErrEmptyCommand) {
				t.Fatalf("Propose(%q) on the leader: %v, want ErrEmptyCommand", command, err)
			}
			if _, _, err := tc.core(2).Propose(command); !errors.Is(err, ErrEmptyCommand) {
				t.Fatalf("Propose(%q) on a follower: %v, want ErrEmptyCommand", command, err)
			}
		}
		if got := tc.core(1).Status().LastIndex; got != last {
			t.Fatalf("an empty command was appended: last index %d, was %d", got, last)
		}
		tc.propose(1, "x")
		tc.core(1).TransferLeadership(2)
		tc.deliver()
		tc.tickAll(3)
		if tc.core(2).Status().Role != RoleLeader {
			t.Fatalf("node 2 did not take over: %+v", tc.core(2).Status())
		}
		tc.propose(2, "y")
		empty := 0
		for _, entry := range tc.nodes[3].applied {
			if entry.Type == EntryNormal && len(entry.Data) == 0 {
				empty++
			}
		}
		if empty != 2 {
			t.Fatalf("node 3 applied %d empty entries, want 2 (one per leader's term)", empty)
		}
	})
}

// ReportUnreachable stops a leader from pipelining appends to a follower
// it cannot reach: it probes with one append at a time instead, and the
// follower catches up once it answers again.
func TestReportUnreachableStopsPipelining(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		tc := newTestCluster(t, mode, 3, nil)
		tc.elect(1)
		tc.propose(1, "a")
		appendsTo := func(id NodeID) int {
			count := 0
			for _, m := range tc.queue {
				if m.Type == MessageAppend && m.To == id && len(m.Entries) > 0 {
					count++
				}
			}
			return count
		}
		tc.cutLink(1, 2)
		for _, command := range []string{"b", "c", "d", "e"} {
			if _, _, err := tc.core(1).Propose([]byte(command)); err != nil {
				t.Fatal(err)
			}
			tc.process(1)
		}
		if got := appendsTo(2); got != 4 {
			t.Fatalf("%d appends in flight to node 2 before the report, want 4 (one per proposal)", got)
		}
		tc.queue = nil // lost with the stream
		tc.core(1).ReportUnreachable(2)
		follower := tc.core(1).Status().Followers[2]
		if follower.Replicating || follower.Inflight != 0 {
			t.Fatalf("after ReportUnreachable node 2 is %+v, want probing with nothing in flight", follower)
		}
		for _, command := range []string{"f", "g", "h"} {
			if _, _, err := tc.core(1).Propose([]byte(command)); err != nil {
				t.Fatal(err)
			}
			tc.process(1)
		}
		if got := appendsTo(2); got != 1 {
			t.Fatalf("%d appends to unreachable node 2 after the report, want 1 (a probe)", got)
		}
		tc.core(2).ReportUnreachable(1) // a follower ignores it
		tc.core(1).ReportUnreachable(1) // and so does a leader, for itself
		tc.heal()
		tc.tickAll(2)
		if got, want := tc.core(2).Status().LastIndex, tc.core(1).Status().LastIndex; got != want {
			t.Fatalf("node 2 holds up to %d after healing, the leader %d", got, want)
		}
	})
}

// Ready.MustSync is true when a write carries entries or a new term or
// vote, and false when only the commit index changed.
func TestReadyMustSync(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		tc := newTestCluster(t, mode, 3, nil)
		tc.elect(1)
		if _, _, err := tc.core(1).Propose([]byte("x")); err != nil {
			t.Fatal(err)
		}
		tc.handleOneReady(1, func(ready Ready) {
			if len(ready.Entries) == 0 || !ready.MustSync {
				t.Fatalf("a Ready with %d entries has MustSync %v, want entries and true", len(ready.Entries), ready.MustSync)
			}
		})
		// Deliver to the followers only, and hand their answers to the
		// leader: its next Ready holds the new commit index and nothing
		// else to write.
		for len(tc.queue) > 0 {
			m := tc.queue[0]
			tc.queue = tc.queue[1:]
			if err := tc.core(m.To).Step(m); err != nil {
				t.Fatal(err)
			}
			if m.To != 1 {
				tc.process(m.To)
			}
		}
		tc.handleOneReady(1, func(ready Ready) {
			if ready.HardState.Commit == 0 || len(ready.Entries) != 0 {
				t.Fatalf("want a commit-only Ready, got hard state %+v and %d entries", ready.HardState, len(ready.Entries))
			}
			if ready.MustSync {
				t.Fatalf("a commit-only Ready has MustSync true")
			}
		})
		// A vote changes the term and vote: that write must be durable.
		tc.expireLeases(2)
		if err := tc.core(3).Step(Message{Type: MessageVote, From: 2, To: 3, Term: tc.core(3).Status().Term + 1, LogIndex: 100, LogTerm: 100}); err != nil {
			t.Fatal(err)
		}
		tc.handleOneReady(3, func(ready Ready) {
			if ready.HardState.Vote != 2 || !ready.MustSync {
				t.Fatalf("a Ready casting a vote has hard state %+v and MustSync %v, want vote 2 and true", ready.HardState, ready.MustSync)
			}
		})
	})
}
