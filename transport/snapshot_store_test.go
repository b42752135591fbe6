package transport

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
	"github.com/lockstepdb/lockstep/vfs"
)

// startNodeWithStore starts a transport that streams snapshots through a
// snapshot store of its own, on an in-memory disk.
func startNodeWithStore(t *testing.T, id raft.NodeID, adjust func(*Config)) (*testNode, *snap.Store, *vfs.MemFS) {
	t.Helper()
	disk := vfs.NewMemFS()
	store, err := snap.Open(disk, "/snap", snap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	node := startNodeBefore(t, id, adjust, func(transport *Transport) { transport.UseSnapshotStore(store) })
	return node, store, disk
}

// withoutData returns a snapshot message as the runtime hands it over
// when its transport streams snapshots: metadata only.
func withoutData(m raft.Message) raft.Message {
	snapshot := *m.Snapshot
	snapshot.Data = nil
	m.Snapshot = &snapshot
	return m
}

// TestSnapshotStreamsBetweenStores sends a snapshot from the sender's
// store file to a staged file of the receiver's store: the handler gets
// the metadata without data, and the staged file installs as the same
// snapshot.
func TestSnapshotStreamsBetweenStores(t *testing.T) {
	ctx := deadline(t)
	a, senderStore, _ := startNodeWithStore(t, 1, nil)
	b, receiverStore, _ := startNodeWithStore(t, 2, nil)
	connect(a, b)
	full := snapshotMessage(1, 2, 700, 3<<20+17, 5)
	if err := senderStore.Save(*full.Snapshot); err != nil {
		t.Fatal(err)
	}
	a.Send([]raft.Message{withoutData(full)})
	got := receive(ctx, t, b)
	if got.Type != raft.MessageSnapshot || got.Snapshot == nil || got.Snapshot.Metadata.Index != 700 {
		t.Fatalf("got %v", got)
	}
	if got.Snapshot.Data != nil {
		t.Fatalf("the handler got %d bytes of data, want none (staged on disk)", len(got.Snapshot.Data))
	}
	if err := receiverStore.Install(got.Snapshot.Metadata); err != nil {
		t.Fatal(err)
	}
	loaded, err := receiverStore.Load()
	if err != nil || !bytes.Equal(loaded.Data, full.Snapshot.Data) || loaded.Metadata.Term != 2 || len(loaded.Metadata.Membership.Learners) != 1 {
		t.Fatalf("installed snapshot %d with %d bytes (%v), want 700 with %d", loaded.Metadata.Index, len(loaded.Data), err, len(full.Snapshot.Data))
	}
	a.logs.waitLog(ctx, t, "snapshot sent")

	// A message that carries its data still goes from memory.
	inline := snapshotMessage(1, 2, 800, 1000, 6)
	a.Send([]raft.Message{inline})
	if got := receive(ctx, t, b); got.Snapshot == nil || got.Snapshot.Metadata.Index != 800 || got.Snapshot.Data != nil {
		t.Fatalf("got %v", got)
	}
	if err := receiverStore.Install(inline.Snapshot.Metadata); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedSnapshotFileIsNotSent: a sender whose snapshot file fails
// verification sends nothing and reports the failure; the receiver gets
// nothing, and nothing is left on its disk.
func TestDamagedSnapshotFileIsNotSent(t *testing.T) {
	ctx := deadline(t)
	a, senderStore, senderDisk := startNodeWithStore(t, 1, nil)
	b, _, receiverDisk := startNodeWithStore(t, 2, nil)
	connect(a, b)
	full := snapshotMessage(1, 2, 700, 1<<20, 5)
	if err := senderStore.Save(*full.Snapshot); err != nil {
		t.Fatal(err)
	}
	names, _ := senderStore.Names()
	file, err := senderDisk.OpenReadWrite("/snap/" + names[0])
	if err != nil {
		t.Fatal(err)
	}
	file.WriteAt([]byte("garbage"), 5000)
	file.Close()
	a.Send([]raft.Message{withoutData(full)})
	a.logs.waitLog(ctx, t, "snapshot transfer failed")
	expectNothing(t, b)
	if stats := waitForStats(ctx, t, a, func(s Stats) bool { return s.DroppedSendFailed == 1 }); stats.SnapshotsSent != 0 {
		t.Errorf("sender stats %+v", stats)
	}
	if files, _ := receiverDisk.List("/snap"); len(files) != 0 {
		t.Errorf("receiver's snapshot directory holds %v", files)
	}
	// A snapshot the store does not have fails the same way.
	a.Send([]raft.Message{withoutData(snapshotMessage(1, 2, 900, 10, 1))})
	a.logs.waitLog(ctx, t, "snapshot transfer failed")
}

// TestInterruptedTransferLeavesNoFile breaks a streamed transfer in the
// middle: the receiver removes its partial file, hands nothing over, and
// the next transfer arrives whole.
func TestInterruptedTransferLeavesNoFile(t *testing.T) {
	ctx := deadline(t)
	faults := &FaultHook{}
	a, senderStore, _ := startNodeWithStore(t, 1, func(c *Config) { c.Faults = faults })
	b, receiverStore, receiverDisk := startNodeWithStore(t, 2, nil)
	connect(a, b)
	full := snapshotMessage(1, 2, 500, 4<<20, 1)
	if err := senderStore.Save(*full.Snapshot); err != nil {
		t.Fatal(err)
	}
	faults.InterruptSnapshots(1, 2, 1<<20)
	a.Send([]raft.Message{withoutData(full)})
	a.logs.waitLog(ctx, t, "snapshot transfer failed")
	b.logs.waitLog(ctx, t, "discarding incomplete or invalid snapshot")
	expectNothing(t, b)
	// The receiver removes its partial file before it logs the discard.
	names, err := receiverDisk.List("/snap")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, ".incoming") {
			t.Errorf("partial transfer left %s", name)
		}
	}
	faults.InterruptSnapshots(1, 2, -1)
	a.Send([]raft.Message{withoutData(full)})
	got := receive(ctx, t, b)
	if got.Snapshot == nil || got.Snapshot.Metadata.Index != 500 {
		t.Fatalf("got %v", got)
	}
	if err := receiverStore.Install(got.Snapshot.Metadata); err != nil {
		t.Fatal(err)
	}
	if loaded, err := receiverStore.Load(); err != nil || !bytes.Equal(loaded.Data, full.Snapshot.Data) {
		t.Fatalf("installed %d bytes (%v)", len(loaded.Data), err)
	}
}
