package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// TestSeedStartsNewClusterFromImage seeds three empty directories with one
// image, starts them as a cluster, and checks that they continue from the
// image at its index, and that a member added later is caught up from the
// seeded snapshot (so its data is a complete image, not only a header).
func TestSeedStartsNewClusterFromImage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := &testCluster{t: t, network: NewLocalNetwork(), disk: vfs.NewMemFS(), nodes: map[raft.NodeID]*Node{},
			machines: map[raft.NodeID]*counter{}, peers: map[raft.NodeID]string{1: "node-1", 2: "node-2", 3: "node-3"}, snapshot: 1000}
		t.Cleanup(cluster.stopAll)
		const index = 500
		for id := range cluster.peers {
			err := Seed(SeedConfig{Directory: directoryOf(id), FileSystem: cluster.disk, Peers: cluster.peers, Index: index, SegmentBytes: 1 << 20,
				Image: bytes.NewReader(binary.BigEndian.AppendUint64(nil, 100))})
			if err != nil {
				t.Fatalf("seed %d: %v", id, err)
			}
		}
		for id := range cluster.peers {
			cluster.start(id)
		}
		leader := cluster.leader(ctx)
		result, err := leader.Propose(ctx, add(5))
		if err != nil {
			t.Fatal(err)
		}
		if result.(uint64) != 105 {
			t.Fatalf("first result after the seed %v, want 105", result)
		}
		status, err := leader.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if status.Commit <= index || status.FirstIndex != index+1 || len(status.Membership.Voters) != 3 {
			t.Fatalf("leader status %+v: want a log after %d and three voters", status, index)
		}
		for id, n := range cluster.nodes {
			if err := n.Read(ctx); err != nil {
				t.Fatal(err)
			}
			if got := cluster.machines[id].value(); got != 105 {
				t.Fatalf("node %d has %d, want 105", id, got)
			}
		}

		// A learner joins: the only snapshot to send is the seeded one.
		cluster.join(4)
		if err := leader.AddLearner(ctx, 4, "node-4"); err != nil {
			t.Fatal(err)
		}
		cluster.waitForValue(ctx, 4, 105)
	})
}

func TestSeedRefusesBadInput(t *testing.T) {
	disk := vfs.NewMemFS()
	peers := map[raft.NodeID]string{1: "node-1"}
	image := func() *bytes.Reader { return bytes.NewReader(binary.BigEndian.AppendUint64(nil, 7)) }
	cases := []struct {
		name   string
		config SeedConfig
		want   string
	}{
		{"index 0", SeedConfig{Directory: "/a", FileSystem: disk, SegmentBytes: 1 << 20, Peers: peers, Image: image()}, "index is 0"},
		{"no image", SeedConfig{Directory: "/a", FileSystem: disk, SegmentBytes: 1 << 20, Peers: peers, Index: 3}, "no image"},
		{"no peers", SeedConfig{Directory: "/a", FileSystem: disk, SegmentBytes: 1 << 20, Index: 3, Image: image()}, "no peers"},
		{"peer 0", SeedConfig{Directory: "/a", FileSystem: disk, SegmentBytes: 1 << 20, Peers: map[raft.NodeID]string{0: "x"}, Index: 3, Image: image()}, "peer ID 0"},
		{"no address", SeedConfig{Directory: "/a", FileSystem: disk, SegmentBytes: 1 << 20, Peers: map[raft.NodeID]string{1: ""}, Index: 3, Image: image()}, "no address"},
	}
	for _, c := range cases {
		if err := Seed(c.config); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	if err := Seed(SeedConfig{Directory: "/b", FileSystem: disk, SegmentBytes: 1 << 20, Peers: peers, Index: 3, Image: image()}); err != nil {
		t.Fatal(err)
	}
	// A second seed of the same directory would replace a state that a
	// member may already have extended: refused.
	if err := Seed(SeedConfig{Directory: "/b", FileSystem: disk, SegmentBytes: 1 << 20, Peers: peers, Index: 3, Image: image()}); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("seeding twice: %v", err)
	}
}
