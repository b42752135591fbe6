package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestDamagedSnapshotDoesNotStopTheLeader damages every snapshot file of
// the leader while a follower is away, then brings the follower back: it
// needs a snapshot the leader cannot load. The leader must go on serving
// instead of panicking, and the follower waits. In memory, the core is
// told the snapshot is temporarily unavailable; streamed, the transfer
// fails and the core resends later.
func TestDamagedSnapshotDoesNotStopTheLeader(t *testing.T) {
	t.Run("in memory", func(t *testing.T) { testDamagedSnapshot(t, snapshotsInMessages) })
	t.Run("streamed", func(t *testing.T) { testDamagedSnapshot(t, streamedSnapshots) })
}

func testDamagedSnapshot(t *testing.T, travel snapshotTravel) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestClusterWith(t, 3, 5, travel) // a snapshot every 5 entries
		leader := cluster.leader(ctx)
		away := leader.config.ID%3 + 1
		cluster.stop(away)
		proposeAll(ctx, t, leader, 1, 20)
		time.Sleep(time.Second) // simulated: the background snapshots finish
		synctest.Wait()

		directory := filepath.Join(directoryOf(leader.config.ID), "snap")
		names, err := cluster.disk.List(directory)
		if err != nil || len(names) == 0 {
			t.Fatalf("leader's snapshots: %v, %v", names, err)
		}
		for _, name := range names {
			if !strings.HasSuffix(name, ".snap") {
				continue
			}
			file, err := cluster.disk.OpenReadWrite(filepath.Join(directory, name))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := file.WriteAt([]byte("damaged"), 48); err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(file.Sync(), file.Close()); err != nil {
				t.Fatal(err)
			}
		}

		cluster.start(away)
		time.Sleep(3 * time.Second) // simulated: many heartbeats, each a retry
		synctest.Wait()
		if _, err := leader.Propose(ctx, add(1)); err != nil {
			t.Fatalf("the leader stopped serving: %v", err)
		}
		if got := cluster.machines[away].value(); got != 0 {
			t.Fatalf("the follower holds %d; it cannot have been caught up from a damaged snapshot", got)
		}
		// The load is retried after 1 s, then 2 s: not on every heartbeat.
		if failures := leader.coreStorage.failures.Load(); travel == snapshotsInMessages && (failures < 1 || failures > 3) {
			t.Fatalf("%d failed loads in 3 s; want a retry after 1 s, then 2 s", failures)
		}
		// The next snapshot (every 5 entries) loads, and the follower is
		// caught up from it.
		proposeAll(ctx, t, leader, 1, 10)
		want := cluster.machines[leader.config.ID].value()
		cluster.waitForValue(ctx, away, want)
	})
}

// TestStartRefusesADamagedLogSnapshot: a node whose log starts at a
// snapshot whose file is damaged must refuse to start rather than use it,
// even when an older snapshot file verifies (start verifies the newest
// file that reads back whole, and must not take that for the log's) and
// even when its state machine keeps its own state (only the snapshot's
// header, its address book, is then read).
func TestStartRefusesADamagedLogSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 5) // a snapshot every 5 entries
		leader := cluster.leader(ctx)
		proposeAll(ctx, t, leader, 1, 20)
		time.Sleep(time.Second) // simulated: the background snapshots finish
		synctest.Wait()
		id := leader.config.ID%3 + 1
		// The follower needs two snapshot files of its own. One that fell
		// behind during the first election (the nodes draw their election
		// timeouts from crypto/rand) may have caught up by the leader's
		// snapshot and taken only one since: give it more entries.
		for next := uint64(21); ; next += 5 {
			if names, err := cluster.disk.List(filepath.Join(directoryOf(id), "snap")); err == nil && len(names) >= 2 {
				break
			}
			if next > 100 {
				t.Fatalf("node %d took fewer than two snapshots in %d entries", id, next-1)
			}
			proposeAll(ctx, t, leader, next, next+4)
			time.Sleep(time.Second) // simulated: the background snapshots finish
			synctest.Wait()
		}
		// A restart compacts the log to the newest snapshot file.
		cluster.stop(id)
		cluster.start(id)
		status, err := cluster.nodes[id].Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cluster.stop(id)
		directory := filepath.Join(directoryOf(id), "snap")
		names, err := cluster.disk.List(directory)
		if err != nil || len(names) < 2 {
			t.Fatalf("node %d's snapshots: %v, %v; want two or more", id, names, err)
		}
		logSnapshot := fmt.Sprintf("%016x-", status.FirstIndex-1)
		if !strings.HasPrefix(names[len(names)-1], logSnapshot) {
			t.Fatalf("the log starts after %d, but the newest snapshot file is %s", status.FirstIndex-1, names[len(names)-1])
		}
		file, err := cluster.disk.OpenReadWrite(filepath.Join(directory, names[len(names)-1]))
		if err != nil {
			t.Fatal(err)
		}
		// One byte of the image, just before the checksum: only a read of
		// the whole file finds it, since a machine that holds its own
		// state has only the header read.
		size, err := file.Size()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := file.WriteAt([]byte{0xff}, size-6); err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(file.Sync(), file.Close()); err != nil {
			t.Fatal(err)
		}
		durable := &durableCounter{t: t, last: status.Applied}
		if n, err := Start(cluster.config(id), durable); err == nil {
			n.Stop()
			t.Fatal("started from a log whose snapshot file is damaged")
		}
	})
}
