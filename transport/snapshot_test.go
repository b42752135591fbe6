package transport

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

func snapshotMessage(from, to raft.NodeID, index uint64, size int, seed uint64) raft.Message {
	data := make([]byte, size)
	random := rand.New(rand.NewPCG(seed, seed))
	for i := 0; i < len(data); i += 8 {
		value := random.Uint64()
		for j := 0; j < 8 && i+j < len(data); j++ {
			data[i+j] = byte(value >> (8 * j))
		}
	}
	return raft.Message{Type: raft.MessageSnapshot, From: from, To: to, Term: 3, Snapshot: &raft.Snapshot{
		Metadata: raft.SnapshotMetadata{Index: index, Term: 2, Membership: raft.Membership{Voters: []raft.NodeID{1, 2, 3}, Learners: []raft.NodeID{4}}},
		Data:     data,
	}}
}

// startStalledTransfer starts node 1 sending snapshot to node 2, whose
// transport stops reading snapshot data (so flow control stops the
// sender) until release is called.
func startStalledTransfer(ctx context.Context, t *testing.T, snapshot raft.Message) (a, b *testNode, release func()) {
	t.Helper()
	faults := &FaultHook{}
	a = startNode(t, 1, nil)
	b = startNode(t, 2, func(c *Config) { c.Faults = faults })
	connect(a, b)
	stalled, release := faults.StallSnapshots()
	a.Send([]raft.Message{snapshot})
	select {
	case <-stalled:
	case <-ctx.Done():
		release()
		t.Fatal("snapshot transfer never started")
	}
	return a, b, release
}

// TestLargeSnapshotDoesNotBlockHeartbeats holds a 16 MiB transfer in the
// middle (the receiver stops reading, so flow control stops the sender)
// and checks that heartbeats keep flowing on the message stream meanwhile;
// then lets the transfer finish and checks the snapshot arrived intact.
func TestLargeSnapshotDoesNotBlockHeartbeats(t *testing.T) {
	ctx := deadline(t)
	snapshot := snapshotMessage(1, 2, 1000, 16<<20, 1)
	a, b, release := startStalledTransfer(ctx, t, snapshot)
	defer release()
	for i := range uint64(200) {
		a.Send([]raft.Message{heartbeat(1, 2, i)})
		if m := receive(ctx, t, b); m.Type != raft.MessageHeartbeat || m.Commit != i {
			t.Fatalf("during the transfer got %v, want heartbeat %d", m, i)
		}
	}
	release()
	got := receive(ctx, t, b)
	if got.Type != raft.MessageSnapshot || got.Snapshot == nil {
		t.Fatalf("got %v, want the snapshot", got)
	}
	if !bytes.Equal(got.Snapshot.Data, snapshot.Snapshot.Data) || got.Snapshot.Metadata.Index != 1000 ||
		len(got.Snapshot.Metadata.Membership.Voters) != 3 || got.Snapshot.Metadata.Membership.Learners[0] != 4 {
		t.Fatalf("snapshot changed in transit: index %d, %d bytes", got.Snapshot.Metadata.Index, len(got.Snapshot.Data))
	}
	a.logs.waitLog(ctx, t, "snapshot sent")
	if stats := a.Stats(); stats.SnapshotsSent != 1 {
		t.Errorf("sender stats %+v", stats)
	}
	if stats := b.Stats(); stats.SnapshotsReceived != 1 || stats.Received != 201 {
		t.Errorf("receiver stats %+v", stats)
	}
}

// TestInterruptedSnapshotIsDiscarded breaks a transfer after 1 MiB: the
// receiver throws the partial snapshot away and never hands it over, and
// the next transfer (the core resends) arrives whole.
func TestInterruptedSnapshotIsDiscarded(t *testing.T) {
	ctx := deadline(t)
	faults := &FaultHook{}
	a := startNode(t, 1, func(c *Config) { c.Faults = faults })
	b := startNode(t, 2, nil)
	connect(a, b)
	faults.InterruptSnapshots(1, 2, 1<<20)
	a.Send([]raft.Message{snapshotMessage(1, 2, 500, 4<<20, 1)})
	a.logs.waitLog(ctx, t, "snapshot transfer failed")
	b.logs.waitLog(ctx, t, "discarding incomplete or invalid snapshot")
	expectNothing(t, b)

	faults.InterruptSnapshots(1, 2, -1)
	resent := snapshotMessage(1, 2, 600, 4<<20, 2)
	a.Send([]raft.Message{resent})
	got := receive(ctx, t, b)
	if got.Snapshot == nil || got.Snapshot.Metadata.Index != 600 || !bytes.Equal(got.Snapshot.Data, resent.Snapshot.Data) {
		t.Fatalf("got %v", got)
	}
	if stats := b.Stats(); stats.SnapshotsDiscarded != 1 || stats.SnapshotsReceived != 1 {
		t.Errorf("receiver stats %+v", stats)
	}
	if stats := a.Stats(); stats.DroppedSendFailed != 1 {
		t.Errorf("sender stats %+v", stats)
	}
}

// TestSnapshotInterruptedBySenderStop stops the sender in the middle of a
// transfer, as a crash would.
func TestSnapshotInterruptedBySenderStop(t *testing.T) {
	ctx := deadline(t)
	faults := &FaultHook{}
	a := startNode(t, 1, nil)
	b := startNode(t, 2, func(c *Config) { c.Faults = faults })
	connect(a, b)
	stalled, release := faults.StallSnapshots()
	defer release()
	a.Send([]raft.Message{snapshotMessage(1, 2, 500, 8<<20, 1)})
	select {
	case <-stalled:
	case <-ctx.Done():
		t.Fatal("transfer never started")
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	b.logs.waitLog(ctx, t, "discarding incomplete or invalid snapshot")
	release()
	expectNothing(t, b)
}

// TestCopyOfSnapshotInTransferIsDropped: the core resends a snapshot the
// follower has not acknowledged after an election timeout, which a long
// transfer can outlast; a copy arriving while the same snapshot is being
// sent must not be queued to cross a second time.
func TestCopyOfSnapshotInTransferIsDropped(t *testing.T) {
	ctx := deadline(t)
	snapshot := snapshotMessage(1, 2, 1000, 4<<20, 1)
	a, b, release := startStalledTransfer(ctx, t, snapshot)
	defer release()
	a.Send([]raft.Message{snapshot})
	a.Send([]raft.Message{snapshot})
	release()
	if got := receive(ctx, t, b); got.Snapshot == nil || got.Snapshot.Metadata.Index != 1000 {
		t.Fatalf("got %v, want snapshot 1000", got)
	}
	// Had a copy been queued, it would cross next (and hold the one-slot
	// queue, so that this newer snapshot would be dropped).
	a.logs.waitLog(ctx, t, "snapshot sent")
	newer := snapshotMessage(1, 2, 1100, 1000, 2)
	a.Send([]raft.Message{newer})
	if got := receive(ctx, t, b); got.Snapshot == nil || got.Snapshot.Metadata.Index != 1100 {
		t.Fatalf("got snapshot %v after the first, want 1100", got.Snapshot.Metadata.Index)
	}
	if stats := a.Stats(); stats.DroppedQueueFull != 0 {
		t.Errorf("sender stats %+v", stats)
	}
}
