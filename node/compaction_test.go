package node

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// TestLogKeepsAnIntervalForCatchingUp: a snapshot compacts the log only to
// the previous snapshot, so a follower that stopped after one snapshot and
// missed less than an interval catches up from the log after the next,
// without a snapshot transfer (with the log compacted to the newest
// snapshot it would need one; a follower installing a large snapshot
// while the leader writes the next interval would otherwise never catch
// up).
func TestLogKeepsAnIntervalForCatchingUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		const interval = 20
		cluster := newTestCluster(t, 3, interval)
		leader := cluster.leader(ctx)
		events, stopEvents := leader.Subscribe(256)
		defer stopEvents()
		var taken []uint64
		waitForSnapshots := func(count int) {
			t.Helper()
			for len(taken) < count {
				select {
				case event := <-events:
					if event.Kind == SnapshotTaken {
						taken = append(taken, event.Index)
					}
				case <-ctx.Done():
					t.Fatalf("snapshots taken: %v, want %d", taken, count)
				}
			}
		}
		proposeAll(ctx, t, leader, 1, interval+5)
		waitForSnapshots(1)
		away := leader.config.ID%3 + 1
		cluster.waitForValue(ctx, away, cluster.machines[leader.config.ID].value())
		cluster.stop(away)
		proposeAll(ctx, t, leader, 1, interval)
		waitForSnapshots(2)

		status, err := leader.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if status.FirstIndex != taken[0]+1 {
			t.Fatalf("after snapshots at %v the log starts at %d, want %d (after the previous snapshot)", taken, status.FirstIndex, taken[0]+1)
		}
		cluster.start(away)
		followerEvents, stopFollowerEvents := cluster.nodes[away].Subscribe(256)
		defer stopFollowerEvents()
		cluster.waitForValue(ctx, away, cluster.machines[leader.config.ID].value())
		for {
			select {
			case event := <-followerEvents:
				if event.Kind == SnapshotInstalled {
					t.Fatalf("the follower was sent snapshot %d; the log still held what it lacked", event.Index)
				}
				continue
			default:
			}
			break
		}
	})
}

// TestStaleStagedSnapshotIsDiscarded: a received snapshot the core can no
// longer accept (at or below the applied index) is removed from the disk
// when the node next takes a snapshot, not kept until an install or a
// restart.
func TestStaleStagedSnapshotIsDiscarded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 5)
		leader := cluster.leader(ctx)
		follower := cluster.nodes[leader.config.ID%3+1]
		// As a transfer the core then ignored would leave it.
		incoming, err := follower.snapshots.Receive(raft.SnapshotMetadata{Index: 1, Term: 1}, 1)
		if err != nil {
			t.Fatal(err)
		}
		incoming.Write([]byte{1})
		if err := incoming.Finish(); err != nil {
			t.Fatal(err)
		}
		events, stopEvents := follower.Subscribe(64)
		defer stopEvents()
		proposeAll(ctx, t, leader, 1, 10)
		for taken := false; !taken; {
			select {
			case event := <-events:
				taken = event.Kind == SnapshotTaken
			case <-ctx.Done():
				t.Fatal("the follower took no snapshot")
			}
		}
		names, err := cluster.disk.List(filepath.Join(directoryOf(follower.config.ID), "snap"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, ".incoming") {
				t.Fatalf("the stale staged snapshot is still on disk: %v", names)
			}
		}
	})
}
