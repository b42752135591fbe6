package server

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestQuotaRaisesNoSpaceAndKeepsData fills a store past a tiny quota:
// writes are refused with etcd's NOSPACE error and alarm on every member,
// reads and deletes still work, and nothing written before is lost.
func TestQuotaRaisesNoSpaceAndKeepsData(t *testing.T) {
	cluster := startCluster(t, 3, func(config *Config) { config.QuotaBackendBytes = 1 })
	ctx := testContext(t)
	client := cluster.client()
	// The store is already over a 1-byte quota: the first write raises the
	// alarm.
	if _, err := client.Put(ctx, "k", "v"); !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("put over quota: %v", err)
	}
	for i := range cluster.members {
		alarms, err := cluster.client(cluster.endpoint(i)).AlarmList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(alarms.Alarms) != 1 || alarms.Alarms[0].Alarm != pb.AlarmType_NOSPACE {
			t.Fatalf("member %d alarms: %v", i, alarms.Alarms)
		}
	}
	if _, err := client.Txn(ctx).Then(clientv3.OpPut("t", "v")).Commit(); !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("txn over quota: %v", err)
	}
	if _, err := client.Get(ctx, "k"); err != nil {
		t.Fatalf("read under the alarm: %v", err)
	}
	if _, err := client.Delete(ctx, "k"); err != nil {
		t.Fatalf("delete under the alarm: %v", err)
	}
	status, err := client.Status(ctx, cluster.endpoint(0))
	if err != nil || len(status.Errors) == 0 {
		t.Fatalf("status shows no alarm: %+v %v", status, err)
	}
	// HashKV agrees on every member at the same revision.
	var hashes []uint32
	for i := range cluster.members {
		hash, err := cluster.client(cluster.endpoint(i)).HashKV(ctx, cluster.endpoint(i), 0)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hash.Hash)
	}
	if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
		t.Fatalf("members disagree on HashKV: %v", hashes)
	}
}
