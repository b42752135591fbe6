package server

import (
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestLeaseExpiryDeletesKeysOnEveryMember grants a short lease through a
// follower, attaches keys, lets it expire, and checks that a watcher sees
// the DELETE events at one revision and that every member lost the keys.
func TestLeaseExpiryDeletesKeysOnEveryMember(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	client := cluster.client(cluster.endpoint(cluster.follower()))
	grant, err := client.Grant(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	events := client.Watch(ctx, "l/", clientv3.WithPrefix(), clientv3.WithFilterPut())
	for _, key := range []string{"l/a", "l/b"} {
		if _, err := client.Put(ctx, key, "v", clientv3.WithLease(grant.ID)); err != nil {
			t.Fatal(err)
		}
	}
	ttl, err := client.TimeToLive(ctx, grant.ID, clientv3.WithAttachedKeys())
	if err != nil || ttl.GrantedTTL < 1 || len(ttl.Keys) != 2 {
		t.Fatalf("time to live: %+v %v", ttl, err)
	}
	leases, err := client.Leases(ctx)
	if err != nil || len(leases.Leases) != 1 || leases.Leases[0].ID != grant.ID {
		t.Fatalf("leases: %+v %v", leases, err)
	}
	deleted := 0
	var revision int64
	for response := range events {
		for _, event := range response.Events {
			if revision != 0 && event.Kv.ModRevision != revision {
				t.Fatalf("lease expiry deleted keys at revisions %d and %d", revision, event.Kv.ModRevision)
			}
			revision = event.Kv.ModRevision
			deleted++
		}
		if deleted == 2 {
			break
		}
	}
	for i := range cluster.members {
		member := cluster.client(cluster.endpoint(i))
		get, err := member.Get(ctx, "l/", clientv3.WithPrefix())
		if err != nil || len(get.Kvs) != 0 {
			t.Fatalf("member %d still has %v (%v)", i, get.Kvs, err)
		}
	}
	expired, err := client.TimeToLive(ctx, grant.ID)
	if err != nil || expired.TTL != -1 {
		t.Fatalf("expired lease time to live: %+v %v", expired, err)
	}
	if _, err := client.Put(ctx, "l/c", "v", clientv3.WithLease(grant.ID)); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("put with an expired lease: %v", err)
	}
}

// TestLeaseKeepAliveThroughFollower keeps a lease alive through a follower
// past several TTLs, then revokes it.
func TestLeaseKeepAliveThroughFollower(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	client := cluster.client(cluster.endpoint(cluster.follower()))
	grant, err := client.Grant(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "k", "v", clientv3.WithLease(grant.ID)); err != nil {
		t.Fatal(err)
	}
	responses, err := client.KeepAlive(ctx, grant.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Keep-alives arrive every third of the TTL; ten of them span more
	// than three TTLs.
	for range 10 {
		response, ok := <-responses
		if !ok || response.TTL <= 0 {
			t.Fatalf("keep-alive ended: %+v", response)
		}
	}
	if get, err := client.Get(ctx, "k"); err != nil || len(get.Kvs) != 1 {
		t.Fatalf("kept-alive key is gone: %v %v", get, err)
	}
	if _, err := client.Revoke(ctx, grant.ID); err != nil {
		t.Fatal(err)
	}
	if get, err := client.Get(ctx, "k"); err != nil || len(get.Kvs) != 0 {
		t.Fatalf("revoked lease's key remains: %v %v", get, err)
	}
	if _, err := client.Revoke(ctx, grant.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
}
