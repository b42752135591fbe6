package transport

import (
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

func TestFaultHookPartitions(t *testing.T) {
	ctx := deadline(t)
	faults := &FaultHook{}
	shared := func(c *Config) { c.Faults = faults }
	a, b, c := startNode(t, 1, shared), startNode(t, 2, shared), startNode(t, 3, shared)
	connect(a, b, c)

	// One way: 1→2 is cut, 2→1 still works.
	faults.Block(1, 2)
	a.Send([]raft.Message{heartbeat(1, 2, 1)})
	b.Send([]raft.Message{heartbeat(2, 1, 2)})
	if m := receive(ctx, t, a); m.Commit != 2 {
		t.Fatalf("got %v", m)
	}
	faults.Unblock(1, 2)
	a.Send([]raft.Message{heartbeat(1, 2, 3)})
	if m := receive(ctx, t, b); m.Commit != 3 {
		t.Fatalf("the blocked message arrived, or another: %v", m)
	}

	// Both ways between 1 and 3; 2 still reaches both.
	faults.Partition(1, 3)
	a.Send([]raft.Message{heartbeat(1, 3, 4)})
	c.Send([]raft.Message{heartbeat(3, 1, 5)})
	b.Send([]raft.Message{heartbeat(2, 1, 6), heartbeat(2, 3, 7)})
	if m := receive(ctx, t, a); m.Commit != 6 {
		t.Fatalf("got %v", m)
	}
	if m := receive(ctx, t, c); m.Commit != 7 {
		t.Fatalf("got %v", m)
	}
	// Snapshots are blocked too.
	a.Send([]raft.Message{snapshotMessage(1, 3, 10, 1024, 1)})
	faults.Heal(1, 3)
	a.Send([]raft.Message{heartbeat(1, 3, 8)})
	c.Send([]raft.Message{heartbeat(3, 1, 9)})
	if m := receive(ctx, t, c); m.Commit != 8 {
		t.Fatalf("got %v", m)
	}
	if m := receive(ctx, t, a); m.Commit != 9 {
		t.Fatalf("got %v", m)
	}
	if stats := a.Stats(); stats.DroppedByFault != 3 {
		t.Errorf("stats of node 1: %+v", stats)
	}
}

func TestFaultHookDropsAndDelays(t *testing.T) {
	ctx := deadline(t)
	faults := &FaultHook{}
	a, b := startNode(t, 1, func(c *Config) { c.Faults = faults }), startNode(t, 2, nil)
	connect(a, b)
	faults.SetDrop(func(m raft.Message) bool { return m.Commit%2 == 1 })
	for i := range uint64(20) {
		a.Send([]raft.Message{heartbeat(1, 2, i)})
	}
	for i := uint64(0); i < 20; i += 2 {
		if m := receive(ctx, t, b); m.Commit != i {
			t.Fatalf("got %v, want commit %d", m, i)
		}
	}
	// A delayed message holds back the ones queued after it: order stays.
	faults.SetDrop(nil)
	faults.SetDelay(func(m raft.Message) time.Duration {
		if m.Commit == 100 {
			return 50 * time.Millisecond
		}
		return 0
	})
	for i := range uint64(10) {
		a.Send([]raft.Message{heartbeat(1, 2, 100+i)})
	}
	for i := range uint64(10) {
		if m := receive(ctx, t, b); m.Commit != 100+i {
			t.Fatalf("got %v, want commit %d", m, 100+i)
		}
	}
	faults.HealAll()
	if stats := a.Stats(); stats.DroppedByFault != 10 {
		t.Errorf("stats %+v", stats)
	}
}
