package raft

import (
	"bytes"
	"testing"
)

// appendsTo returns the appends a Ready sends to node to.
func appendsTo(ready Ready, to NodeID) []Message {
	var appends []Message
	for _, m := range append(ready.SendNow, ready.SendAfterPersist...) {
		if m.Type == MessageAppend && m.To == to {
			appends = append(appends, m)
		}
	}
	return appends
}

// pipelinedCluster starts a 3-node cluster led by node 1 whose followers
// have acknowledged a first command, so both are replicating in pipeline;
// configure, if set, adjusts each node's configuration.
func pipelinedCluster(t *testing.T, mode persistence, configure func(*Config)) (*testCluster, *Core) {
	t.Helper()
	cluster := newTestCluster(t, mode, 3, configure)
	cluster.elect(1)
	cluster.propose(1, "warm-up")
	return cluster, cluster.core(1)
}

// A busy leader proposes in many small Readies. Once the window for small
// appends is full, their entries wait, and the acknowledgement that frees
// the window takes all of them to the follower in one append.
func TestSmallAppendsWaitAndGoTogether(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		_, leader := pipelinedCluster(t, mode, nil)
		window := leader.config.MaxInflightSmallAppends
		var sent []Message
		for round := 0; round < 10; round++ {
			if _, _, err := leader.Propose([]byte("0123456789")); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, appendsTo(persistAndAdvance(t, leader), 2)...)
		}
		if len(sent) != window {
			t.Fatalf("10 small Readies sent %d appends to a follower that acknowledged none, want the window's %d", len(sent), window)
		}
		// The follower acknowledges the first append: a slot frees, and
		// the six entries held back leave together.
		first := sent[0]
		acknowledged := first.LogIndex + uint64(len(first.Entries))
		if err := leader.Step(Message{Type: MessageAppendResponse, From: 2, To: 1, Term: leader.term, Index: acknowledged}); err != nil {
			t.Fatal(err)
		}
		released := appendsTo(persistAndAdvance(t, leader), 2)
		if len(released) != 1 || len(released[0].Entries) != 10-window {
			t.Fatalf("after an acknowledgement: %d appends (%v), want one with the %d entries held back", len(released), released, 10-window)
		}
		last := sent[len(sent)-1]
		if released[0].LogIndex != last.LogIndex+uint64(len(last.Entries)) {
			t.Fatalf("the released append starts after %d, want after %d", released[0].LogIndex, last.LogIndex+uint64(len(last.Entries)))
		}
	})
}

// Appends of at least a sixteenth of MaxAppendBytes are not held back:
// they fill the whole window (MaxInflightAppends), so that a follower far
// away or catching up still receives a pipeline of them.
func TestLargeAppendsUseTheWholeWindow(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		const maxInflight = 8
		_, leader := pipelinedCluster(t, mode, func(c *Config) { c.MaxAppendBytes = 16 * 100; c.MaxInflightAppends = maxInflight })
		command := bytes.Repeat([]byte{'x'}, 100) // a sixteenth of MaxAppendBytes, and more with its overhead
		sent := 0
		for round := 0; round < 2*maxInflight; round++ {
			if _, _, err := leader.Propose(command); err != nil {
				t.Fatal(err)
			}
			sent += len(appendsTo(persistAndAdvance(t, leader), 2))
		}
		if sent != maxInflight {
			t.Fatalf("%d large Readies sent %d appends, want the whole window of %d", 2*maxInflight, sent, maxInflight)
		}
	})
}

// Small appends held back do not stall a follower whose appends were
// lost: the heartbeat's answer frees a slot, the probe finds the gap, and
// the follower catches up without any new proposal.
func TestHeldBackAppendsRecoverFromLostOnes(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster, leader := pipelinedCluster(t, mode, nil)
		lost := true
		cluster.drop = func(m Message) bool { return lost && m.Type == MessageAppend && m.To == 3 }
		var want []string
		for round := 0; round < 10; round++ {
			command := string(rune('a' + round))
			want = append(want, command)
			if _, _, err := leader.Propose([]byte(command)); err != nil {
				t.Fatal(err)
			}
			cluster.deliver()
		}
		lost = false
		cluster.tickAll(2 * leader.config.ElectionTicks)
		got := cluster.appliedCommands(3)
		if len(got) != len(want)+1 || got[len(got)-1] != want[len(want)-1] {
			t.Fatalf("node 3 applied %v after its appends were lost, want warm-up and %v", got, want)
		}
	})
}

// A follower with a window of small appends unanswered is not sent a
// snapshot when the leader compacts past what it was sent: the appends'
// answers, or a heartbeat's, say first whether it is there at all. Once
// it answers, the snapshot goes.
func TestNoSnapshotWhileSmallAppendsAreUnanswered(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		cluster, leader := pipelinedCluster(t, mode, nil)
		snapshotSent, cutOff := false, true
		cluster.drop = func(m Message) bool {
			if m.Type == MessageSnapshot && m.To == 3 {
				snapshotSent = true
			}
			return cutOff && (m.To == 3 || m.From == 3)
		}
		for round := 0; round < 10; round++ {
			cluster.propose(1, string(rune('a'+round)))
		}
		cluster.snapshot(1)
		cluster.propose(1, "after the snapshot")
		if snapshotSent {
			t.Fatal("the leader sent a snapshot to a follower that answered none of its appends")
		}
		if status := leader.Status().Followers[3]; !status.Replicating {
			t.Fatalf("follower 3 is %+v, want it still pipelined", status)
		}
		cutOff = false
		cluster.tickAll(2)
		if !snapshotSent {
			t.Fatal("no snapshot once the follower answered a heartbeat")
		}
		if got := cluster.appliedCommands(3); len(got) == 0 || got[len(got)-1] != "after the snapshot" {
			t.Fatalf("node 3 applied %v, want it caught up", got)
		}
	})
}

// Entries held back over several Readies are counted together: once they
// reach a small append's limit, they leave at once in one append, window
// full or not.
func TestHeldEntriesLeaveOnceTheyAddUpToALargeAppend(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		// A small append's limit: 1,600/16 = 100 bytes; an entry of 10
		// bytes is 34 with its overhead, so three of them are enough.
		_, leader := pipelinedCluster(t, mode, func(c *Config) { c.MaxAppendBytes = 1600 })
		window := leader.config.MaxInflightSmallAppends
		propose := func() []Message {
			t.Helper()
			if _, _, err := leader.Propose([]byte("0123456789")); err != nil {
				t.Fatal(err)
			}
			return appendsTo(persistAndAdvance(t, leader), 2)
		}
		for range window {
			if sent := propose(); len(sent) != 1 {
				t.Fatalf("%d appends while the window fills, want 1", len(sent))
			}
		}
		for held := 1; held <= 2; held++ {
			if sent := propose(); len(sent) != 0 {
				t.Fatalf("%d appends with %d entries (%d bytes) held, want none", len(sent), held, held*34)
			}
		}
		sent := propose()
		if len(sent) != 1 || len(sent[0].Entries) != 3 {
			t.Fatalf("three held entries (102 bytes) sent as %v, want one append of all three", sent)
		}
	})
}
