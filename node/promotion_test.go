package node

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// TestAddVoterPromotesOnceCaughtUpAcrossRestarts adds a voter that is not
// running yet: it stays a learner; the whole cluster restarts (the intent
// comes back from snapshots and the log); once the new node runs and has
// caught up, the leader makes it a voter.
func TestAddVoterPromotesOnceCaughtUpAcrossRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 5) // snapshot every 5 entries
		leader := cluster.leader(ctx)
		if err := leader.AddVoter(ctx, 4, "node-4"); err != nil {
			t.Fatal(err)
		}
		for range 12 {
			if _, err := leader.Propose(ctx, add(1)); err != nil {
				t.Fatal(err)
			}
		}
		status, err := leader.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(status.Membership.Learners, 4) || slices.Contains(status.Membership.Voters, 4) {
			t.Fatalf("a node that never ran was promoted: %+v", status.Membership)
		}
		for id := raft.NodeID(1); id <= 3; id++ {
			cluster.stop(id)
		}
		for id := raft.NodeID(1); id <= 3; id++ {
			cluster.start(id)
		}
		cluster.join(4)
		for {
			status, err := cluster.leader(ctx).Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(status.Membership.Voters, 4) && len(status.Membership.OutgoingVoters) == 0 {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("node 4 never promoted: %+v", status.Membership)
			case <-time.After(10 * time.Millisecond):
			}
		}
		if cluster.machines[4].value() < 12 {
			// Promotion waits for the log to catch up; the machine may
			// trail by what is not yet applied, never by a snapshot.
			if err := cluster.nodes[4].Read(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := cluster.machines[4].value(); got != 12 {
			t.Fatalf("new voter has %d, want 12", got)
		}
	})
}

func TestPromotionRecordAndSnapshotCodec(t *testing.T) {
	id, err := decodePromotion(encodePromotion(77))
	if err != nil || id != 77 {
		t.Fatalf("promotion round trip: %d %v", id, err)
	}
	for _, bad := range [][]byte{nil, {kindPromotion}, {kindPromotion, 0}, {kindCommand, 1}, append(encodePromotion(5), 9)} {
		if _, err := decodePromotion(bad); err == nil {
			t.Errorf("decodePromotion(%v) accepted", bad)
		}
	}
	book := addressBook{1: "a:1", 2: "b:2"}
	data := append(encodeSnapshotHeader(book, map[raft.NodeID]bool{9: true}), "image"...)
	gotBook, promotions, image, err := decodeSnapshot(data)
	if err != nil || len(gotBook) != 2 || gotBook[2] != "b:2" || !promotions[9] || len(promotions) != 1 || string(image) != "image" {
		t.Fatalf("snapshot round trip: %v %v %q %v", gotBook, promotions, image, err)
	}
	// The first format (no magic, no promotions) still decodes.
	first := []byte{1, 1, 3, 'a', ':', '1', 'i', 'm', 'g'}
	gotBook, promotions, image, err = decodeSnapshot(first)
	if err != nil || gotBook[1] != "a:1" || len(promotions) != 0 || string(image) != "img" {
		t.Fatalf("first-format snapshot: %v %v %q %v", gotBook, promotions, image, err)
	}
	if _, _, _, err := decodeSnapshot(append([]byte(snapshotMagic), 0, 200)); err == nil {
		t.Fatal("a truncated promotion list was accepted")
	}
}
