package server

import (
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestWatchContinuesAcrossLeaderChange watches on a follower from revision
// 1 while the leader is stopped and another takes over: the watcher sees
// every revision once and in order.
func TestWatchContinuesAcrossLeaderChange(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	leader := cluster.leader()
	watching := (leader + 1) % 3
	writing := (leader + 2) % 3
	watcher := cluster.client(cluster.endpoint(watching))
	writer := cluster.client(cluster.endpoint(writing))
	events := watcher.Watch(clientv3.WithRequireLeader(ctx), "w/", clientv3.WithPrefix(), clientv3.WithRev(1), clientv3.WithPrevKV())
	for i := range 10 {
		if _, err := writer.Put(ctx, fmt.Sprintf("w/%d", i%3), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	cluster.stop(leader)
	cluster.leader()
	for i := 10; i < 20; i++ {
		if _, err := writer.Put(ctx, fmt.Sprintf("w/%d", i%3), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := writer.Delete(ctx, "w/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	want := int64(2)
	seen := 0
	for response := range events {
		if err := response.Err(); err != nil {
			t.Fatal(err)
		}
		for _, event := range response.Events {
			if event.Type == clientv3.EventTypeDelete {
				if event.Kv.ModRevision != 22 {
					t.Fatalf("delete event at revision %d, want 22", event.Kv.ModRevision)
				}
				seen++
				continue
			}
			if event.Kv.ModRevision != want || string(event.Kv.Value) != fmt.Sprint(want-2) {
				t.Fatalf("put event %d=%s, want revision %d", event.Kv.ModRevision, event.Kv.Value, want)
			}
			if want > 4 && event.PrevKv == nil {
				t.Fatalf("event %d has no prev kv", want)
			}
			want++
		}
		if want == 22 && seen == 3 {
			return
		}
	}
	t.Fatalf("watch ended at revision %d", want)
}
