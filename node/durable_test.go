package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
	"github.com/lockstepdb/lockstep/vfs"
)

// durableCounter is a counter that pretends to keep its state on disk: the
// same object is handed to the restarted node, and AppliedIndex reports the
// last index it applied. Its image holds that index too, so that tests can
// tell which entries an image held. It fails the test if an entry reaches
// it twice.
type durableCounter struct {
	counter
	t        *testing.T
	last     uint64
	restores int
	// images counts the images made (Snapshot calls), imagesRead those
	// read to their end (atomic: read on the runtime's goroutines).
	images     int
	imagesRead atomic.Int64
	// restoredLast is the index the last image restored held.
	restoredLast uint64
}

func (d *durableCounter) Snapshot() (io.ReadCloser, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.images++
	image := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, d.total), d.last)
	return io.NopCloser(&countedImage{Reader: bytes.NewReader(image), read: &d.imagesRead}), nil
}

// countedImage counts itself in read when it is read to its end.
type countedImage struct {
	io.Reader
	read *atomic.Int64
	done bool
}

func (c *countedImage) Read(p []byte) (int, error) {
	n, err := c.Reader.Read(p)
	if err == io.EOF && !c.done {
		c.done = true
		c.read.Add(1)
	}
	return n, err
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
	data, err := io.ReadAll(image)
	if err != nil || (len(data) != 16 && len(data) != 8) {
		return fmt.Errorf("bad durable counter image (%d bytes): %v", len(data), err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.restores++
	d.total = binary.BigEndian.Uint64(data)
	if len(data) == 16 { // a plain counter's image (8 bytes) says no index
		d.last = binary.BigEndian.Uint64(data[8:])
		d.restoredLast = d.last
	}
	return nil
}

func (d *durableCounter) AppliedIndex() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// startDurable starts a one-member node with a snapshot every 4 entries;
// keepImages sets Config.KeepSnapshotImages.
func startDurable(t *testing.T, disk *vfs.MemFS, network *LocalNetwork, machine StateMachine, keepImages bool) *Node {
	t.Helper()
	n, err := Start(durableConfig(disk, network, keepImages), machine)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func durableConfig(disk *vfs.MemFS, network *LocalNetwork, keepImages bool) Config {
	return Config{
		ID: 1, Directory: "/data/1", FileSystem: disk, Transport: network.Transport(1),
		Peers: map[raft.NodeID]string{1: "node-1"}, TickInterval: 10 * time.Millisecond, SnapshotEntries: 4, SegmentBytes: 1 << 20,
		Logger: slog.New(slog.DiscardHandler), KeepSnapshotImages: keepImages,
	}
}

// writeTenAndStop starts a one-member node of a fresh durableCounter
// (startDurable), proposes 1 to 10, waits for its background snapshots
// (Stop gives up one in progress) and stops it; it returns the node's disk
// and network, and the machine.
func writeTenAndStop(ctx context.Context, t *testing.T, keepImages bool) (*vfs.MemFS, *LocalNetwork, *durableCounter) {
	t.Helper()
	disk, network := vfs.NewMemFS(), NewLocalNetwork()
	machine := &durableCounter{t: t}
	n := startDurable(t, disk, network, machine, keepImages)
	proposeAll(ctx, t, n, 1, 10)
	synctest.Wait()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	return disk, network, machine
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
		disk, network, machine := writeTenAndStop(ctx, t, false)
		n := startDurable(t, disk, network, machine, false)
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

// TestDurableMachineBehindSnapshotIsRestored checks the other side: with
// KeepSnapshotImages, a durable machine that lost its state (AppliedIndex
// 0) is restored from the snapshot, then handed the entries after it.
func TestDurableMachineBehindSnapshotIsRestored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		disk, network, _ := writeTenAndStop(ctx, t, true)
		fresh := &durableCounter{t: t}
		n := startDurable(t, disk, network, fresh, true)
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

// TestDurableMachineSnapshotsHoldNoImage: by default a durable machine's
// snapshots leave the state to it. Each one still calls Snapshot (which
// makes the machine durable before the log is compacted), but its files
// hold no image, so a member whose machine lost its state refuses to start
// with ErrImageNotKept instead of starting from nothing.
func TestDurableMachineSnapshotsHoldNoImage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		disk, network, machine := writeTenAndStop(ctx, t, false)
		if machine.images == 0 {
			t.Fatal("no snapshot called the machine's Snapshot: nothing made it durable before the log was compacted")
		}
		names, err := disk.List("/data/1/snap")
		if err != nil || len(names) == 0 {
			t.Fatalf("no snapshot files (%v)", err)
		}
		snapshots, err := snap.Open(disk, "/data/1/snap", snap.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			var index, term uint64
			fmt.Sscanf(name, "%016x-%016x.snap", &index, &term)
			header, err := readSnapshotFile(snapshots, raft.SnapshotMetadata{Index: index, Term: term}, snapshotFileRead{})
			if err != nil || !header.imageKept {
				t.Fatalf("snapshot %s: %+v, %v; want a header without an image", name, header, err)
			}
		}
		_, err = Start(durableConfig(disk, network, false), &durableCounter{t: t})
		if !errors.Is(err, ErrImageNotKept) {
			t.Fatalf("a machine that lost its state started with %v, want ErrImageNotKept", err)
		}
	})
}
