package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/vfs"
)

// proposedRecorder returns a recorder to which commands "k=1".."k=count"
// were proposed, so that machines may apply and load them.
func proposedRecorder(count int) *recorder {
	r := newTestRecorder()
	for i := 1; i <= count; i++ {
		r.propose(fmt.Sprintf("k=%d", i), "k", fmt.Sprint(i))
	}
	return r
}

// entries returns commands "k=first".."k=last" at their own indexes.
func entries(first, last int) []node.Entry {
	var list []node.Entry
	for i := first; i <= last; i++ {
		list = append(list, node.Entry{Index: uint64(i), Term: 1, Command: []byte(fmt.Sprintf("k=%d", i))})
	}
	return list
}

func mustLoad(t *testing.T, r *recorder, disk vfs.FS) *durableMachine {
	t.Helper()
	m, err := loadDurableMachine(1, r, disk)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDurableMachineKeepsWhatSnapshotAndRestoreMadeDurable: Apply alone is
// lost in a crash (the log replays it); Snapshot and Restore survive one.
func TestDurableMachineKeepsWhatSnapshotAndRestoreMadeDurable(t *testing.T) {
	r := proposedRecorder(9)
	disk := vfs.NewMemFS()
	m := mustLoad(t, r, disk)
	if m.AppliedIndex() != 0 {
		t.Fatalf("a machine on an empty disk starts at %d", m.AppliedIndex())
	}
	m.Apply(entries(1, 3))
	disk.Crash(nil)
	if m = mustLoad(t, r, disk); m.AppliedIndex() != 0 {
		t.Fatalf("applied but never persisted, yet loaded up to %d", m.AppliedIndex())
	}

	m.Apply(entries(1, 4))
	image, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	m.Apply(entries(5, 6)) // after the snapshot: lost in the crash
	disk.Crash(nil)
	m = mustLoad(t, r, disk)
	if m.AppliedIndex() != 4 || m.value("k") != "4" {
		t.Fatalf("after a snapshot at 4 and a crash, loaded up to %d with k=%q", m.AppliedIndex(), m.value("k"))
	}

	// An image from elsewhere, newer than anything here.
	other := newMachine(2, r)
	other.Apply(entries(1, 9))
	newer, _ := other.Snapshot()
	if err := m.Restore(newer); err != nil {
		t.Fatal(err)
	}
	if m.AppliedIndex() != 9 {
		t.Fatalf("restored an image up to 9, AppliedIndex %d", m.AppliedIndex())
	}
	disk.Crash(nil)
	m = mustLoad(t, r, disk)
	if !slices.Equal(m.applied(), other.applied()) {
		t.Fatalf("after a restore and a crash, loaded %v, want %v", m.applied(), other.applied())
	}
	// The snapshot's image is the state as of that Snapshot.
	data, _ := io.ReadAll(image)
	if sequence, _ := decodeSequence(data); len(sequence) != 4 {
		t.Fatalf("snapshot image holds %d commands, want 4", len(sequence))
	}
	if v := r.failed(); v != nil {
		t.Fatal(v)
	}
	if r.loads != 2 {
		t.Fatalf("%d loads recorded, want 2", r.loads)
	}
}

// TestDurableMachineReportsFailedWrites: a failed fsync or a full disk is
// Snapshot's and Restore's error, and leaves the last durable state (and
// no partial file) behind.
func TestDurableMachineReportsFailedWrites(t *testing.T) {
	r := proposedRecorder(6)
	disk := vfs.NewMemFS()
	m := mustLoad(t, r, disk)
	m.Apply(entries(1, 2))
	if _, err := m.Snapshot(); err != nil {
		t.Fatal(err)
	}
	m.Apply(entries(3, 4))

	disk.SetFault(func(operation vfs.Operation, _ string) error {
		if operation == vfs.OperationSync {
			return errInjected
		}
		return nil
	})
	if _, err := m.Snapshot(); !errors.Is(err, errInjected) {
		t.Fatalf("Snapshot on a failing fsync: %v", err)
	}
	other := newMachine(2, r)
	other.Apply(entries(1, 6))
	image, _ := other.Snapshot()
	if err := m.Restore(image); !errors.Is(err, errInjected) {
		t.Fatalf("Restore on a failing fsync: %v", err)
	}
	if m.AppliedIndex() != 4 {
		t.Fatalf("a Restore that could not persist moved the machine to %d", m.AppliedIndex())
	}
	disk.SetFault(nil)

	disk.SetCapacity(disk.Used())
	used := disk.Used()
	if _, err := m.Snapshot(); !vfs.IsNoSpace(err) {
		t.Fatalf("Snapshot on a full disk: %v", err)
	}
	if disk.Used() != used {
		t.Fatalf("a failed Snapshot left %d bytes behind", disk.Used()-used)
	}
	disk.SetCapacity(0)

	disk.Crash(nil)
	if m = mustLoad(t, r, disk); m.AppliedIndex() != 2 {
		t.Fatalf("after failed writes and a crash, loaded up to %d, want 2", m.AppliedIndex())
	}
	if v := r.failed(); v != nil {
		t.Fatal(v)
	}
}

// TestDurableMachineWritesNothingAfterItsDiskCrashed: the crash is the
// incarnation's power failure; the old machine must not persist after it.
func TestDurableMachineWritesNothingAfterItsDiskCrashed(t *testing.T) {
	r := proposedRecorder(3)
	disk := vfs.NewMemFS()
	m := mustLoad(t, r, disk)
	m.Apply(entries(1, 3))
	disk.Crash(nil)
	if _, err := m.Snapshot(); !errors.Is(err, vfs.ErrCrashed) {
		t.Fatalf("Snapshot after the disk crashed: %v", err)
	}
	if m = mustLoad(t, r, disk); m.AppliedIndex() != 0 {
		t.Fatalf("the crashed incarnation persisted up to %d", m.AppliedIndex())
	}
}

// TestDurableMachineRefusesDamagedOrUnknownState: a state file that does
// not decode fails the load, and one holding commands the cluster never
// had breaks validity when loaded.
func TestDurableMachineRefusesDamagedOrUnknownState(t *testing.T) {
	disk := vfs.NewMemFS()
	mustLoad(t, newTestRecorder(), disk)
	if err := writeSyncedFile(disk, machineStateFile, []byte{1, 5, 'a'}); err != nil {
		t.Fatal(err)
	}
	if _, err := loadDurableMachine(1, newTestRecorder(), disk); !errors.Is(err, errBadImage) {
		t.Fatalf("load of a damaged state: %v", err)
	}
	if err := writeSyncedFile(disk, machineStateFile, encodeSequence([]appliedCommand{{1, "x=1"}})); err != nil {
		t.Fatal(err)
	}
	r := newTestRecorder()
	mustLoad(t, r, disk)
	ruleBroken(t, r, "validity")
}

// TestDurableMachineSurvivesAMemberCrash runs a cluster of durable
// machines, crashes a follower that has applied every put, and requires
// its next incarnation to start from the state its machine made durable
// (not empty, and not restored by the runtime from its snapshot), then to
// catch up with the others.
func TestDurableMachineSurvivesAMemberCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		options := Options{Seed: 1, Nodes: 3}.withDefaults()
		c := newCluster(options, rand.New(rand.NewPCG(1, 2)))
		c.profile = profile{snapshotEntries: 5, durableMachines: true}
		for _, m := range c.sortedMembers() {
			c.start(m)
		}
		defer c.stopAll()
		ctx, cancel := c.timeout(c.options.LivenessTicks)
		defer cancel()
		leader := waitForLeader(ctx, t, c)
		for i := range 30 {
			if err := c.put(ctx, leader, "a", fmt.Sprint(i)); err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
		}
		follower := c.member(leader.id%3 + 1)
		if !c.readUntilAnswered(ctx, follower) {
			t.Fatal("the follower did not catch up")
		}
		c.mu.Lock()
		before := follower.machine.applied()
		c.mu.Unlock()

		c.crash(follower, nil)
		restoresBefore, _ := restoresAndLoads(c.recorder)
		c.start(follower)
		restores, loads := restoresAndLoads(c.recorder)
		if restores != restoresBefore {
			t.Fatal("the runtime restored the restarted machine from its snapshot: the machine is behind it")
		}
		if loads != 1 {
			t.Fatalf("%d machines loaded a state from disk, want 1", loads)
		}
		c.mu.Lock()
		after := follower.machine
		c.mu.Unlock()
		// Wait for the follower to catch up, then compare with what it had.
		if !c.readUntilAnswered(ctx, follower) {
			t.Fatal("the restarted follower did not catch up")
		}
		if !slices.Equal(after.applied(), before) {
			t.Fatalf("the restarted follower holds %d commands, before the crash %d", len(after.applied()), len(before))
		}
		c.checkPrefixes()
		if v := c.recorder.failed(); v != nil {
			t.Fatal(v)
		}
	})
}

func restoresAndLoads(r *recorder) (restores, loads int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restores, r.loads
}

// waitForLeader returns the leader once one is elected.
func waitForLeader(ctx context.Context, t *testing.T, c *cluster) running {
	t.Helper()
	for {
		if leader, _, ok := c.leader(ctx); ok {
			return leader
		}
		if !sleepTicks(ctx, c, 1) {
			t.Fatal("no leader elected")
		}
	}
}
