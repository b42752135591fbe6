package node

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
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
		cluster.start(away, false)
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
