package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// TestRemovedMemberLearnsAndRefusesClients: a follower removed from its
// cluster, which the leader stops replicating to before it hears of the
// removal, learns it from its peers' refusal (as etcd's members do),
// closes Removed, and answers clients with ErrRemoved at once; a removed
// leader learns it by applying its own removal.
func TestRemovedMemberLearnsAndRefusesClients(t *testing.T) {
	cluster := startCluster(t, 4, nil)
	ctx := testContext(t)
	leader := cluster.leader()
	follower := (leader + 1) % 4
	client := cluster.client(cluster.endpoint(leader))
	if _, err := client.MemberRemove(ctx, cluster.members[follower].ID()); err != nil {
		t.Fatal(err)
	}
	waitRemoved(t, cluster, follower)
	removedClient := cluster.client(cluster.endpoint(follower))
	started := time.Now()
	get, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := removedClient.Get(get, "any"); err == nil || !errors.Is(err, ErrRemoved) && err.Error() != ErrRemoved.Error() {
		t.Fatalf("a client of the removed member got %v, want %v", err, ErrRemoved)
	}
	if elapsed := time.Since(started); elapsed > 2*time.Second {
		t.Fatalf("the removed member's client waited %v for its error", elapsed)
	}

	// The leader removes itself: it hands over, applies its removal, and
	// knows it.
	if _, err := client.MemberRemove(ctx, cluster.members[leader].ID()); err != nil {
		t.Fatal(err)
	}
	waitRemoved(t, cluster, leader)
	for i, member := range cluster.members {
		if i == leader || i == follower {
			continue
		}
		select {
		case <-member.Removed():
			t.Fatalf("member %d, still in the cluster, believes it was removed", i)
		default:
		}
	}
}

func waitRemoved(t *testing.T, cluster *testCluster, i int) {
	t.Helper()
	select {
	case <-cluster.members[i].Removed():
	case <-time.After(20 * time.Second):
		t.Fatalf("member %d was removed but did not learn it within 20s", i)
	}
}

// TestRestartedMemberDoesNotTakeALaterMemberForRemoved: a member that
// replays its log after a restart sees, in order, the configurations
// before a newer member was added; none of them may count it as removed
// (the configuration in effect is not the judge: only applied entries
// are, in order).
func TestRestartedMemberDoesNotTakeALaterMemberForRemoved(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	leader := cluster.leader()
	gone := (leader + 1) % 3
	if _, err := cluster.client(cluster.endpoint(leader)).MemberRemove(ctx, cluster.members[gone].ID()); err != nil {
		t.Fatal(err)
	}
	waitRemoved(t, cluster, gone)
	cluster.stop(gone)
	cluster.addVoterMember(t)
	newcomer := len(cluster.members) - 1
	restarted := (gone + 1) % 3
	cluster.stop(restarted)
	cluster.start(restarted)
	cluster.leader()
	// The restarted member has applied every configuration again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, err := cluster.members[restarted].Node().Status(ctx)
		if err == nil && status.Applied >= status.Commit && status.Commit > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted member did not catch up: %+v %v", status, err)
		}
		time.Sleep(testHeartbeat)
	}
	if cluster.members[restarted].Node().WasRemoved(raft.NodeID(cluster.members[newcomer].ID())) {
		t.Fatal("after its restart a member takes the newest member for removed")
	}
	select {
	case <-cluster.members[newcomer].Removed():
		t.Fatal("the newest member was told it was removed")
	default:
	}
}
