package server

import (
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestKVThroughEveryMember writes through each member in turn (followers
// forward to the leader) and reads back linearizably and serializably.
func TestKVThroughEveryMember(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	cluster.leader()
	var revisions []int64
	for i := range cluster.members {
		client := cluster.client(cluster.endpoint(i))
		put, err := client.Put(ctx, "key", string(rune('a'+i)), clientv3.WithPrevKV())
		if err != nil {
			t.Fatalf("put through member %d: %v", i, err)
		}
		revisions = append(revisions, put.Header.Revision)
		if put.Header.MemberId != cluster.members[i].ID() || put.Header.ClusterId != cluster.members[i].ClusterID() || put.Header.RaftTerm == 0 {
			t.Fatalf("put header %+v, want member %x of cluster %x", put.Header, cluster.members[i].ID(), cluster.members[i].ClusterID())
		}
		if i > 0 && (put.PrevKv == nil || string(put.PrevKv.Value) != string(rune('a'+i-1))) {
			t.Fatalf("prev kv %v", put.PrevKv)
		}
	}
	if revisions[0] != 2 || revisions[1] != 3 || revisions[2] != 4 {
		t.Fatalf("revisions %v, want 2 3 4 (1 on an empty store, +1 per write)", revisions)
	}
	for i := range cluster.members {
		client := cluster.client(cluster.endpoint(i))
		get, err := client.Get(ctx, "key")
		if err != nil {
			t.Fatal(err)
		}
		kv := get.Kvs[0]
		if string(kv.Value) != "c" || kv.Version != 3 || kv.CreateRevision != 2 || kv.ModRevision != 4 || get.Header.Revision != 4 {
			t.Fatalf("member %d reads %+v at %d", i, kv, get.Header.Revision)
		}
		serializable, err := client.Get(ctx, "key", clientv3.WithSerializable())
		if err != nil || len(serializable.Kvs) != 1 {
			t.Fatalf("serializable get: %v %v", serializable, err)
		}
	}
	client := cluster.client(cluster.endpoint(cluster.follower()))
	old, err := client.Get(ctx, "key", clientv3.WithRev(2))
	if err != nil || string(old.Kvs[0].Value) != "a" {
		t.Fatalf("read at revision 2: %v %v", old, err)
	}
	if _, err := client.Get(ctx, "key", clientv3.WithRev(99)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("future revision: %v", err)
	}
	txn, err := client.Txn(ctx).If(clientv3.Compare(clientv3.Value("key"), "=", "c")).
		Then(clientv3.OpPut("key", "d"), clientv3.OpGet("key")).Else(clientv3.OpGet("key")).Commit()
	if err != nil || !txn.Succeeded || txn.Header.Revision != 5 || string(txn.Responses[1].GetResponseRange().Kvs[0].Value) != "d" {
		t.Fatalf("txn: %+v %v", txn, err)
	}
	if _, err := client.Compact(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get(ctx, "key", clientv3.WithRev(2)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("read below compaction: %v", err)
	}
	deleted, err := client.Delete(ctx, "key", clientv3.WithPrevKV())
	if err != nil || deleted.Deleted != 1 || string(deleted.PrevKvs[0].Value) != "d" || deleted.Header.Revision != 6 {
		t.Fatalf("delete: %+v %v", deleted, err)
	}
}
