package server

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lockstepdb/lockstep/internal/formatfixture"
)

// A member whose data directory was written by the storage formats of
// commit ba3f194 (testdata/format1) starts, serves the keys written then,
// takes new writes, snapshots and compactions in today's formats, and
// starts again on the mix.
func TestMemberOfFormat1Starts(t *testing.T) {
	expected := formatfixture.Load(t)
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	cluster := &testCluster{t: t, configs: []Config{{
		Name: "fixture", DataDirectory: formatfixture.Copy(t, "member"),
		ListenClientURLs: []string{"http://127.0.0.1:0"}, ListenPeerURLs: []string{peer},
		InitialCluster: map[string][]string{"fixture": {peer}}, InitialClusterToken: "format1",
		HeartbeatInterval: testHeartbeat, ElectionTimeout: testElection,
		SnapshotCount: 8, WALSegmentBytes: 4096, Logger: testLogger(t),
	}}, members: []*Server{nil}}
	t.Cleanup(cluster.stopAll)

	keys := func(want map[string]string) {
		t.Helper()
		cluster.leader()
		client := cluster.client()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		response, err := client.Get(ctx, "key-", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, pair := range response.Kvs {
			got[string(pair.Key)] = string(pair.Value)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("the member serves %d keys %v,\nwant %d keys %v", len(got), got, len(want), want)
		}
		members, err := client.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(members.Members) != 2 {
			t.Fatalf("members %v, want the voter and its learner", members.Members)
		}
	}

	want := maps.Clone(expected.Keys)
	put := func(first, last int) {
		t.Helper()
		client := cluster.client()
		for i := first; i <= last; i++ {
			key, value := fmt.Sprintf("key-%02d", i), fmt.Sprintf("after the upgrade %d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := client.Put(ctx, key, value)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			want[key] = value
		}
	}

	cluster.start(0)
	keys(expected.Keys)
	// A few writes: the log now holds segments of both formats.
	put(40, 41)
	cluster.stop(0)
	cluster.start(0)
	keys(want)
	// Enough writes for new snapshots and compactions, which replace the
	// segments and snapshot files of format 1.
	put(42, 60)
	cluster.stop(0)
	cluster.start(0)
	keys(want)
}
