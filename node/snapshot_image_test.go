package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// TestFollowerCaughtUpByASnapshotTakenForIt: durable machines keep their
// own state, so the leader's snapshots at each interval hold no image. A
// follower cut off while the leader compacted its log past it needs one:
// the leader takes a snapshot with an image when the core first asks, and
// the follower installs it. The image holds exactly the entries up to the
// snapshot's index (a follower of an older version, or a machine that does
// not know better, would apply again any entry after it), and the follower
// ends with the same state as the others (durableCounter fails the test if
// an entry reaches it twice).
func TestFollowerCaughtUpByASnapshotTakenForIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		machines, follower := catchUpAFollowerBySnapshot(t, false, func(*durableCounter) StateMachine { return nil })
		if machines[follower].restores == 0 {
			t.Fatal("the follower was not caught up by a snapshot")
		}
	})
}

// TestRestoreOnAFullDiskWaitsForSpace: with AsyncPersistence a full disk
// pauses a node, it does not stop it. A durable machine writes as it
// restores, so its Restore may fail for want of space (keeping its old
// state); the node tries again, as it does the snapshot's other steps,
// and catches up once it succeeds. Found by the stack simulator (seed 239,
// 3 nodes, durable machines), which stopped there before.
func TestRestoreOnAFullDiskWaitsForSpace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var full *fullDiskOnRestore
		machines, follower := catchUpAFollowerBySnapshot(t, true, func(machine *durableCounter) StateMachine {
			full = &fullDiskOnRestore{durableCounter: machine, refusals: 3}
			return full
		})
		if full.refusals != 0 || machines[follower].restores == 0 {
			t.Fatalf("%d refusals left, %d restores: the follower was not caught up by a snapshot after a full disk", full.refusals, machines[follower].restores)
		}
	})
}

// fullDiskOnRestore refuses its first few Restore calls as a full disk
// would, keeping its state.
type fullDiskOnRestore struct {
	*durableCounter
	refusals int
}

func (f *fullDiskOnRestore) Restore(image io.Reader) error {
	if f.refusals > 0 {
		f.refusals--
		return fmt.Errorf("restore: write: %w", syscall.ENOSPC)
	}
	return f.durableCounter.Restore(image)
}

// catchUpAFollowerBySnapshot runs three nodes of durable machines, cuts
// node 3 off as a follower while the leader writes at least 30 entries (a
// snapshot every 4), until its log is compacted past node 3's, heals it, and waits until every node holds the same state. If
// wrap returns a machine, node 3 runs that one, wrapped around its
// durableCounter. It returns the durableCounters and node 3's ID.
func catchUpAFollowerBySnapshot(t *testing.T, async bool, wrap func(*durableCounter) StateMachine) (map[raft.NodeID]*durableCounter, raft.NodeID) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	disk, network := vfs.NewMemFS(), NewLocalNetwork()
	peers := map[raft.NodeID]string{1: "node-1", 2: "node-2", 3: "node-3"}
	machines, nodes := map[raft.NodeID]*durableCounter{}, map[raft.NodeID]*Node{}
	const follower = raft.NodeID(3)
	for id := range peers {
		machines[id] = &durableCounter{t: t}
		var machine StateMachine = machines[id]
		if id == follower {
			if wrapped := wrap(machines[id]); wrapped != nil {
				machine = wrapped
			}
		}
		n, err := Start(Config{
			ID: id, Directory: fmt.Sprintf("/data/%d", id), FileSystem: disk, Transport: network.Transport(id),
			Peers: peers, TickInterval: 10 * time.Millisecond, SnapshotEntries: 4, SegmentBytes: 1 << 20,
			AsyncPersistence: async, Logger: slog.New(slog.DiscardHandler),
		}, machine)
		if err != nil {
			t.Fatal(err)
		}
		nodes[id] = n
		t.Cleanup(func() { n.Stop() })
	}
	leaderID, err := nodes[1].WaitForLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if leaderID == follower {
		if err := nodes[follower].TransferLeadership(ctx, 1); err != nil {
			t.Fatal(err)
		}
		leaderID = 1
	}
	network.Isolate(follower)
	cutOff, err := nodes[follower].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Snapshots are taken in the background, one at a time, so how many
	// entries it takes to compact the leader's log past the follower's
	// depends on the schedule: write until it has.
	proposed := uint64(0)
	for {
		status, err := nodes[leaderID].Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if proposed >= 30 && status.FirstIndex > cutOff.Commit+1 {
			break
		}
		if proposed == 1000 {
			t.Fatalf("1,000 entries and the leader's log still starts at %d", status.FirstIndex)
		}
		proposed++
		proposeAll(ctx, t, nodes[leaderID], proposed, proposed)
	}
	if read := machines[leaderID].imagesRead.Load(); read != 0 {
		t.Fatalf("the leader read %d images before a follower needed one", read)
	}
	events, unsubscribe := nodes[follower].Subscribe(64)
	defer unsubscribe()
	network.Heal()
	proposed++
	proposeAll(ctx, t, nodes[leaderID], proposed, proposed)
	want := proposed * (proposed + 1) / 2
	for id, machine := range machines {
		for machine.value() != want {
			if ctx.Err() != nil {
				t.Fatalf("node %d at %d, want %d", id, machine.value(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if machines[leaderID].imagesRead.Load() == 0 {
		t.Fatal("the leader read no image for the follower")
	}
	status, err := nodes[follower].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status.FirstIndex < 2 {
		t.Fatalf("the follower's log starts at %d (leader %d, %d restores): it was caught up from the log, not by a snapshot", status.FirstIndex, leaderID, machines[follower].restores)
	}
	if err := nodes[follower].Err(); err != nil {
		t.Fatalf("the follower stopped: %v", err)
	}
	installed := uint64(0)
	for len(events) > 0 {
		if event := <-events; event.Kind == SnapshotInstalled {
			installed = event.Index
		}
	}
	if restored := machines[follower].restoredLast; installed == 0 || restored > installed {
		t.Fatalf("the follower installed snapshot %d, whose image held entries up to %d", installed, restored)
	}
	for id, machine := range machines {
		if got := machine.value(); got != want {
			t.Fatalf("node %d holds %d, want %d", id, got, want)
		}
	}
	return machines, follower
}

// TestLeaderSendsItsNewestSnapshot: the log keeps the entries after the
// snapshot before the newest, but a follower is sent the newest, so that
// it has a whole interval to fetch the entries after it before the leader
// compacts them away and must send it another snapshot.
func TestLeaderSendsItsNewestSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 5) // a snapshot every 5 entries
		leader := cluster.leader(ctx)
		away := leader.config.ID%3 + 1
		cluster.stop(away)
		proposeAll(ctx, t, leader, 1, 20)
		time.Sleep(time.Second) // simulated: the background snapshots finish
		synctest.Wait()
		var sent raft.Snapshot
		var point, newest raft.SnapshotMetadata
		var sendErr error
		if err := leader.do(ctx, func() {
			sent, sendErr = leader.coreStorage.Snapshot()
			point, newest = leader.storage.Log().SnapshotMetadata(), leader.previousSnapshot
		}); err != nil || sendErr != nil {
			t.Fatal(err, sendErr)
		}
		if newest.Index <= point.Index || sent.Metadata.Index != newest.Index {
			t.Fatalf("the log is compacted to %d, the newest snapshot is %d, and %d would be sent; want the newest", point.Index, newest.Index, sent.Metadata.Index)
		}
		cluster.start(away)
		cluster.waitForValue(ctx, away, cluster.machines[leader.config.ID].value())
		status, err := cluster.nodes[away].Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if status.FirstIndex != newest.Index+1 {
			t.Fatalf("the follower's log starts at %d; want %d, after the newest snapshot", status.FirstIndex, newest.Index+1)
		}
	})
}

// TestDeposedLeaderAnswersWaitersASnapshotCovers: a leader cut off with
// proposals in flight is caught up, once back, by a snapshot that covers
// their entries. Each caller gets an answer then (ErrDropped, or
// ErrMaybeCommitted: the snapshot does not say whether the entry was
// committed), not only when its context ends.
func TestDeposedLeaderAnswersWaitersASnapshotCovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 4) // a snapshot every 4 entries
		old := cluster.leader(ctx)
		proposeAll(ctx, t, old, 1, 3)
		cluster.network.Isolate(old.config.ID)
		const pending = 20
		results := make(chan error, pending)
		for range pending {
			go func() {
				_, err := old.Propose(context.Background(), add(1000)) // no deadline: only an answer ends it
				results <- err
			}()
		}
		synctest.Wait()
		var leader *Node
		for leader == nil {
			for id, n := range cluster.nodes {
				if status, _ := n.Status(ctx); id != old.config.ID && status.Role == raft.RoleLeader {
					leader = n
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		proposeAll(ctx, t, leader, 4, 40)
		cluster.network.Heal()
		cluster.waitForValue(ctx, old.config.ID, cluster.machines[leader.config.ID].value())
		if cluster.machines[old.config.ID].value() != 40*41/2 {
			t.Fatalf("the old leader holds %d", cluster.machines[old.config.ID].value())
		}
		synctest.Wait()
		if len(results) != pending {
			t.Fatalf("%d of %d callers answered once the old leader was caught up", len(results), pending)
		}
		for range pending {
			if err := <-results; !errors.Is(err, ErrDropped) && !errors.Is(err, ErrMaybeCommitted) {
				t.Fatalf("a caller got %v", err)
			}
		}
	})
}

// TestSnapshotWithAnImageServesWhileTheLogFollowsIt: a node of a durable
// machine whose newest snapshot holds no image takes one with an image
// when a follower needs it; a snapshot at the next interval (without one)
// must not make it take another while the one it took is still followed
// by the log: at a high write rate that would never end. Once the log is
// compacted past it, a new one is needed.
func TestSnapshotWithAnImageServesWhileTheLogFollowsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n, machine := runningDurableWithTen(ctx, t)
		ask := func() (sent, newest raft.SnapshotMetadata, ready bool) {
			t.Helper()
			if err := n.do(ctx, func() {
				sent, ready = n.snapshotToSend(n.storage.Log().SnapshotMetadata())
				newest = n.previousSnapshot
			}); err != nil {
				t.Fatal(err)
			}
			synctest.Wait() // the capture it asked for, if any, finishes
			return sent, newest, ready
		}
		if _, _, ready := ask(); ready {
			t.Fatal("a snapshot without an image was ready to send")
		}
		withImage, newest, ready := ask()
		if !ready || withImage.Index != newest.Index || machine.imagesRead.Load() != 1 {
			t.Fatalf("after taking one: %+v ready %v (newest %d), %d images read", withImage, ready, newest.Index, machine.imagesRead.Load())
		}
		proposeAll(ctx, t, n, 11, 14) // one interval: a newer snapshot, without an image
		synctest.Wait()
		sent, newest, ready := ask()
		if !ready || sent.Index != withImage.Index || newest.Index <= withImage.Index || machine.imagesRead.Load() != 1 {
			t.Fatalf("a newer snapshot without an image: sent %d (ready %v), newest %d, %d images read; want %d sent, no new image", sent.Index, ready, newest.Index, machine.imagesRead.Load(), withImage.Index)
		}
		proposeAll(ctx, t, n, 15, 30) // the log is compacted past it
		synctest.Wait()
		if sent, _, ready := ask(); ready && sent.Index == withImage.Index {
			t.Fatalf("snapshot %d sent after the log was compacted past it", sent.Index)
		}
	})
}

// TestOneImageWhileOneIsTaken: the core asks again at every heartbeat
// response while the snapshot with an image it needs is being taken; the
// asks must not queue a second one (lockstep check took two images for
// each transfer before).
func TestOneImageWhileOneIsTaken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n, machine := runningDurableWithTen(ctx, t)
		var asks []bool
		if err := n.do(ctx, func() {
			for range 2 { // the second ask comes while the first one's image is taken
				_, ready := n.snapshotToSend(n.storage.Log().SnapshotMetadata())
				asks = append(asks, ready)
				n.maybeSnapshot()
			}
		}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err := n.do(ctx, func() {}); err != nil { // a loop pass: a queued want would start now
			t.Fatal(err)
		}
		synctest.Wait()
		if asks[0] || asks[1] || machine.imagesRead.Load() != 1 {
			t.Fatalf("asks ready %v, %d images read; want not ready twice and one image", asks, machine.imagesRead.Load())
		}
	})
}

// runningDurableWithTen starts a one-member node of a durable counter, a
// snapshot (without an image) every 4 entries, proposes 1 to 10 and waits
// for its background snapshots. It stops when the test ends.
func runningDurableWithTen(ctx context.Context, t *testing.T) (*Node, *durableCounter) {
	t.Helper()
	machine := &durableCounter{t: t}
	n := startDurable(t, vfs.NewMemFS(), NewLocalNetwork(), machine, false)
	t.Cleanup(func() { n.Stop() })
	proposeAll(ctx, t, n, 1, 10)
	synctest.Wait()
	return n, machine
}

// TestStopDoesNotWaitForAWholeImage: Stop waits for a capture in progress,
// which must give up when the node stops rather than write the rest of a
// store-sized image.
func TestStopDoesNotWaitForAWholeImage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		slow := &slowImage{durableCounter: &durableCounter{t: t}, reads: make(chan struct{}, 1)}
		n := startDurable(t, vfs.NewMemFS(), NewLocalNetwork(), slow, true) // images at every snapshot
		proposeAll(ctx, t, n, 1, 4)                                         // the fourth starts a capture
		<-slow.reads                                                        // the image is being read
		started := time.Now()
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(started); took > time.Second {
			t.Fatalf("Stop took %v (simulated): it waited for the whole image (%v)", took, slowImageLength)
		}
	})
}

// slowImage's image takes slowImageLength to read, a millisecond a byte.
type slowImage struct {
	*durableCounter
	reads chan struct{}
}

const slowImageLength = 100 * time.Second

func (s *slowImage) Snapshot() (io.ReadCloser, error) {
	return io.NopCloser(&slowReader{left: int(slowImageLength / time.Millisecond), reads: s.reads}), nil
}

type slowReader struct {
	left  int
	reads chan struct{}
}

func (r *slowReader) Read(buffer []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	select {
	case r.reads <- struct{}{}:
	default:
	}
	time.Sleep(time.Millisecond)
	r.left--
	buffer[0] = 0
	return 1, nil
}

// TestSnapshotInMemoryWithoutImageIsRefusedBeforeAnyWrite: a snapshot that
// arrives in memory must hold an image; one that does not (a faulty peer)
// is refused before it is saved or installed in the log, so that the
// node, which must stop, starts again as it was.
func TestSnapshotInMemoryWithoutImageIsRefusedBeforeAnyWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n, _ := runningDurableWithTen(ctx, t)
		snapshot := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 100, Term: 9, Membership: raft.Membership{Voters: []raft.NodeID{1}}},
			Data: encodeImageKeptHeader(addressBook{1: "node-1"}, nil, 100)}
		var persistErr error
		var before, after raft.SnapshotMetadata
		if err := n.do(ctx, func() {
			before = n.storage.Log().SnapshotMetadata()
			persistErr = n.persistSnapshot(snapshot)
			after = n.storage.Log().SnapshotMetadata()
		}); err != nil {
			t.Fatal(err)
		}
		names, err := n.snapshots.Names()
		if err != nil {
			t.Fatal(err)
		}
		if persistErr == nil || after.Index != before.Index || slices.Contains(names, "0000000000000064-0000000000000009.snap") {
			t.Fatalf("error %v; log's snapshot %d → %d; files %v", persistErr, before.Index, after.Index, names)
		}
	})
}

// TestNoCaptureWhileTheMachineIsAheadOfApplied: a durable machine that
// holds more than the node has applied (a restart whose log recorded a
// commit index behind what the machine had applied, since a hard state
// that only moves the commit index is not written) cannot give an image
// for the node's applied index: the image would hold the later entries
// under that index, and a follower restored from it would apply them
// again (the stack simulator found a learner applying index 63 after 71).
// No capture starts, for a follower or on schedule, until the node has
// applied as far as the machine holds.
func TestNoCaptureWhileTheMachineIsAheadOfApplied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n, _ := runningDurableWithTen(ctx, t)
		var ahead, caughtUp bool
		if err := n.do(ctx, func() {
			saved := n.machineApplied
			n.machineApplied = n.applied + 3
			n.imageWanted = true
			n.maybeSnapshot()
			ahead = n.snapshotting
			n.machineApplied = saved
			n.maybeSnapshot()
			caughtUp = n.snapshotting
		}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if ahead || !caughtUp {
			t.Fatalf("capture started with the machine ahead: %v, once caught up: %v; want false, true", ahead, caughtUp)
		}
	})
}

// TestInstalledSnapshotResetsWhatTheMachineHolds: once a snapshot from
// the leader restored the machine, the machine holds its state and no
// more, so the entries after it are applied even if the machine held some
// of them before the restore.
func TestInstalledSnapshotResetsWhatTheMachineHolds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n, _ := runningDurableWithTen(ctx, t)
		image := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 5050), 100)
		snapshot := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 100, Term: 9, Membership: raft.Membership{Voters: []raft.NodeID{1}}},
			Data: append(encodeSnapshotHeader(addressBook{1: "node-1"}, nil), image...)}
		var installErr error
		var held uint64
		if err := n.do(ctx, func() {
			n.machineApplied = 120
			installErr = n.installSnapshot(snapshot)
			held = n.machineApplied
		}); err != nil {
			t.Fatal(err)
		}
		if installErr != nil || held != 100 {
			t.Fatalf("install: %v; the node counts the machine at %d, want 100", installErr, held)
		}
	})
}
