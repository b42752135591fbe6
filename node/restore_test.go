package node

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
	"github.com/lockstepdb/lockstep/wal"
)

// TestRestartAfterSnapshotSavedButNotInstalled covers a crash between the
// two steps of installing a leader's snapshot: the snapshot file is saved,
// the log is not yet replaced by it, and the log holds a different entry at
// the snapshot's index (an uncommitted one from an older term). The node
// must start from the snapshot, not refuse to start (lockstep sim --stack
// seed 371 found the refusal: "snapshot term 3 differs from the log's term
// 2 there").
func TestRestartAfterSnapshotSavedButNotInstalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster, follower, index, term := crashedDuringSnapshotInstall(ctx, t)

		cluster.start(follower)
		status, err := cluster.nodes[follower].Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if status.FirstIndex != index+1 || status.LastIndex != index || status.LastTerm != term+1 {
			t.Fatalf("restarted follower: %+v; want its log replaced by the snapshot at %d (term %d)", status, index, term+1)
		}
		if status.Term < term+1 {
			t.Fatalf("restarted follower at term %d, below its log's last term %d", status.Term, term+1)
		}
		if got := cluster.machines[follower].value(); got != 1000 {
			t.Fatalf("restarted follower's machine holds %d, want the snapshot's 1000", got)
		}
	})
}

// crashedDuringSnapshotInstall runs a three-node cluster through five
// proposals, stops it, and leaves a follower as a crash between saving a
// leader's snapshot and installing it would (saveDivergentSnapshot). It
// returns the cluster (stopped), the follower, and the snapshot's index
// and the log's term there.
func crashedDuringSnapshotInstall(ctx context.Context, t *testing.T) (cluster *testCluster, follower raft.NodeID, index, term uint64) {
	t.Helper()
	cluster = newTestCluster(t, 3, 1000)
	leader := cluster.leader(ctx)
	proposeAll(ctx, t, leader, 1, 5)
	follower = leader.config.ID%3 + 1
	// The leader and the other follower are a quorum: this one may not
	// hold the entries yet (it did not, once under load), and the crash
	// must leave it with a log to diverge from.
	cluster.waitForValue(ctx, follower, 1+2+3+4+5)
	for id := range cluster.peers {
		cluster.stop(id)
	}
	index, term = saveDivergentSnapshot(t, cluster, follower, 1000)
	return cluster, follower, index, term
}

// saveDivergentSnapshot saves, in node id's snapshot directory, a snapshot
// at its log's last index but of a later term (as a new leader's would be),
// whose counter holds total, without installing it in the log: the state a
// crash leaves between the two steps. It returns the index and the log's
// term there.
func saveDivergentSnapshot(t *testing.T, cluster *testCluster, id raft.NodeID, total uint64) (index, term uint64) {
	t.Helper()
	directory := directoryOf(id)
	storage, err := wal.OpenStorage(cluster.disk, filepath.Join(directory, "wal"), wal.Options{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	index, _ = storage.LastIndex()
	term, err = storage.Term(index)
	if err != nil {
		t.Fatal(err)
	}
	storage.Close()
	snapshots, err := snap.Open(cluster.disk, filepath.Join(directory, "snap"), snap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	metadata := raft.SnapshotMetadata{Index: index, Term: term + 1, Membership: raft.Membership{Voters: []raft.NodeID{1, 2, 3}}}
	data := append(encodeSnapshotHeader(addressBook(cluster.peers), nil), binary.BigEndian.AppendUint64(nil, total)...)
	if err := snapshots.Save(raft.Snapshot{Metadata: metadata, Data: data}); err != nil {
		t.Fatal(err)
	}
	return index, term
}
