package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// durableCounter is a counter that pretends to keep its state on disk: the
// same object is handed to the restarted node, and AppliedIndex reports the
// last index it applied. It fails the test if an entry reaches it twice.
type durableCounter struct {
	counter
	t        *testing.T
	last     uint64
	restores int
}

func (d *durableCounter) Apply(entries []Entry) []Result {
	for _, entry := range entries {
		if entry.Index <= d.last {
			d.t.Errorf("entry %d applied again (machine already at %d)", entry.Index, d.last)
		}
		d.last = entry.Index
	}
	return d.counter.Apply(entries)
}

func (d *durableCounter) Restore(image io.Reader) error {
	d.restores++
	return d.counter.Restore(image)
}

func (d *durableCounter) AppliedIndex() uint64 { return d.last }

func startDurable(t *testing.T, disk *vfs.MemFS, network *LocalNetwork, machine StateMachine) *Node {
	t.Helper()
	n, err := Start(Config{
		ID: 1, Directory: "/data/1", FileSystem: disk, Transport: network.Transport(1),
		Peers: map[raft.NodeID]string{1: "node-1"}, TickInterval: 10 * time.Millisecond, SnapshotEntries: 4, SegmentBytes: 1 << 20,
		Logger: slog.New(slog.DiscardHandler),
	}, machine)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func proposeAll(ctx context.Context, t *testing.T, n *Node, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		for {
			_, err := n.Propose(ctx, add(i))
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond) // simulated: waiting out the election
		}
	}
}

// TestDurableMachineIsNotReplayed checks that a restart hands a durable
// machine only the entries after its AppliedIndex, without restoring the
// older snapshot over it.
func TestDurableMachineIsNotReplayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		disk, network := vfs.NewMemFS(), NewLocalNetwork()
		machine := &durableCounter{t: t}
		n := startDurable(t, disk, network, machine)
		proposeAll(ctx, t, n, 1, 10)
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
		n = startDurable(t, disk, network, machine)
		defer n.Stop()
		proposeAll(ctx, t, n, 11, 12)
		if got, want := machine.value(), uint64(12*13/2); got != want {
			t.Fatalf("total %d, want %d", got, want)
		}
		if machine.restores != 0 {
			t.Fatalf("a machine ahead of the snapshot was restored %d times", machine.restores)
		}
	})
}

// TestDurableMachineBehindSnapshotIsRestored checks the other side: a
// durable machine that lost its state (AppliedIndex 0) is restored from the
// snapshot, then handed the entries after it.
func TestDurableMachineBehindSnapshotIsRestored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		disk, network := vfs.NewMemFS(), NewLocalNetwork()
		n := startDurable(t, disk, network, &durableCounter{t: t})
		proposeAll(ctx, t, n, 1, 10)
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
		fresh := &durableCounter{t: t}
		n = startDurable(t, disk, network, fresh)
		defer n.Stop()
		if err := n.Read(ctx); err != nil {
			t.Fatal(err)
		}
		if fresh.restores != 1 {
			t.Fatalf("restores = %d, want 1", fresh.restores)
		}
		if got, want := fresh.value(), uint64(55); got != want {
			t.Fatalf("total %d, want %d", got, want)
		}
	})
}
