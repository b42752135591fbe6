package server

import (
	"context"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestMutexAndElectionAcrossLeaderKill runs clientv3's Mutex and Election
// recipes while the Raft leader crashes: the lock stays exclusive and
// passes on when released, and the election reports one leader at a time.
func TestMutexAndElectionAcrossLeaderKill(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	leader := cluster.leader()
	// Clients talk to the two members that survive.
	endpoints := []string{cluster.endpoint((leader + 1) % 3), cluster.endpoint((leader + 2) % 3)}
	first, err := concurrency.NewSession(cluster.client(endpoints...), concurrency.WithTTL(2))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := concurrency.NewSession(cluster.client(endpoints...), concurrency.WithTTL(2))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()

	firstMutex := concurrency.NewMutex(first, "/lock/")
	secondMutex := concurrency.NewMutex(second, "/lock/")
	if err := firstMutex.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	// The second locker waits while the first holds the lock. Its Lock may
	// fail with Unavailable when the leader dies under a forwarded call (the
	// outcome of that call is unknown to the follower, and clientv3 does not
	// retry a Txn); a failed Lock holds nothing, so it simply tries again.
	acquired := make(chan error, 1)
	go func() {
		for {
			err := secondMutex.Lock(ctx)
			if status.Code(err) == codes.Unavailable && ctx.Err() == nil {
				continue
			}
			acquired <- err
			return
		}
	}()

	firstElection := concurrency.NewElection(first, "/election/")
	if err := firstElection.Campaign(ctx, "first"); err != nil {
		t.Fatal(err)
	}

	cluster.kill(leader)
	cluster.leader()

	select {
	case err := <-acquired:
		if err != nil {
			t.Fatalf("the second locker's Lock failed: %v", err)
		}
		t.Fatal("second locker got the lock while the first held it")
	case <-time.After(500 * time.Millisecond): // a bounded check that nothing happens
	}
	if err := firstMutex.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-acquired; err != nil {
		t.Fatal(err)
	}
	if err := secondMutex.Unlock(ctx); err != nil {
		t.Fatal(err)
	}

	secondElection := concurrency.NewElection(second, "/election/")
	campaigned := make(chan error, 1)
	campaignCtx, cancelCampaign := context.WithCancel(ctx)
	defer cancelCampaign()
	go func() { campaigned <- secondElection.Campaign(campaignCtx, "second") }()
	leaderNow, err := secondElection.Leader(ctx)
	if err != nil || string(leaderNow.Kvs[0].Value) != "first" {
		t.Fatalf("election leader %v (%v), want first", leaderNow, err)
	}
	if err := firstElection.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-campaigned; err != nil {
		t.Fatal(err)
	}
	leaderNow, err = firstElection.Leader(ctx)
	if err != nil || string(leaderNow.Kvs[0].Value) != "second" {
		t.Fatalf("election leader after resign %v (%v), want second", leaderNow, err)
	}
}
