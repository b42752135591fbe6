package node

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// TestFollowerCaughtUpByAnImageWrittenOnDemand: durable machines keep
// their own state, so the leader's snapshots hold no image. A follower cut
// off while the leader compacted its log past it needs one: the leader
// writes it when the core first asks, from its machine's state of then,
// which is later than the snapshot sent. The follower restores it, skips
// the entries the image already holds (durableCounter fails the test if an
// entry reaches it twice), and ends with the same state as the others.
func TestFollowerCaughtUpByAnImageWrittenOnDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		disk, network := vfs.NewMemFS(), NewLocalNetwork()
		peers := map[raft.NodeID]string{1: "node-1", 2: "node-2", 3: "node-3"}
		machines, nodes := map[raft.NodeID]*durableCounter{}, map[raft.NodeID]*Node{}
		for id := range peers {
			machines[id] = &durableCounter{t: t}
			n, err := Start(Config{
				ID: id, Directory: fmt.Sprintf("/data/%d", id), FileSystem: disk, Transport: network.Transport(id),
				Peers: peers, TickInterval: 10 * time.Millisecond, SnapshotEntries: 4, SegmentBytes: 1 << 20,
				Logger: slog.New(slog.DiscardHandler),
			}, machines[id])
			if err != nil {
				t.Fatal(err)
			}
			nodes[id] = n
			defer n.Stop()
		}
		leaderID, err := nodes[1].WaitForLeader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		follower := leaderID%3 + 1
		network.Isolate(follower)
		proposeAll(ctx, t, nodes[leaderID], 1, 30)
		imagesBefore := machines[leaderID].images
		network.Heal()
		proposeAll(ctx, t, nodes[leaderID], 31, 31)
		want := uint64(31 * 32 / 2)
		for machines[follower].value() != want {
			if ctx.Err() != nil {
				t.Fatalf("follower %d at %d, want %d", follower, machines[follower].value(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Twice when the leader compacts past the first snapshot before
		// the follower has fetched the entries after it.
		if machines[follower].restores == 0 {
			t.Fatal("the follower was not caught up by a snapshot")
		}
		if machines[leaderID].images <= imagesBefore {
			t.Fatal("the leader made no image for the follower")
		}
		status, err := nodes[follower].Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if status.FirstIndex < 2 {
			t.Fatalf("the follower's log starts at %d: it was caught up from the log, not by a snapshot", status.FirstIndex)
		}
		for id, machine := range machines {
			if got := machine.value(); got != want {
				t.Fatalf("node %d holds %d, want %d", id, got, want)
			}
		}
	})
}
