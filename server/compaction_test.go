package server

import (
	"fmt"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestPhysicalCompactRemovesHistoryWithoutWrites compacts a history of 200
// versions on a follower with --physical and no write after it: the
// answer comes once every member's store has removed the old versions
// (the leader's continuations do it, not later writes), and Defragment
// then answers and leaves every member's HashKV equal.
func TestPhysicalCompactRemovesHistoryWithoutWrites(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	client := cluster.client(cluster.endpoint(cluster.follower()))
	value := strings.Repeat("v", 1000)
	var revision int64
	for i := range 200 {
		response, err := client.Put(ctx, fmt.Sprintf("key-%d", i%10), value)
		if err != nil {
			t.Fatal(err)
		}
		revision = response.Header.Revision
	}
	if _, err := client.Compact(ctx, revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	follower := cluster.members[cluster.follower()]
	if follower.store.CompactionPending() {
		t.Error("a physical Compact answered while its member still holds removed versions")
	}
	var hashes []uint32
	for i, member := range cluster.members {
		// Every member applies the continuations the leader proposes;
		// the last may still be on its way to a member other than the
		// one asked.
		if err := member.waitCompacted(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := cluster.client(cluster.endpoint(i)).Defragment(ctx, cluster.endpoint(i)); err != nil {
			t.Fatalf("defragment member %d: %v", i, err)
		}
		hash, err := cluster.client(cluster.endpoint(i)).HashKV(ctx, cluster.endpoint(i), revision)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hash.Hash)
	}
	if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
		t.Errorf("members disagree on HashKV after compaction and defragmentation: %v", hashes)
	}
	for i := range 10 {
		got, err := client.Get(ctx, fmt.Sprintf("key-%d", i))
		if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != value {
			t.Fatalf("key-%d after compaction: %v %v", i, got, err)
		}
	}
}
