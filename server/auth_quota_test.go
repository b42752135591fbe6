package server

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestAuthQuotaAlarmRaisedForAnyUser: a user who may not administer
// alarms fills the store past its quota; the server still raises the
// NOSPACE alarm (on its own account, not the user's).
func TestAuthQuotaAlarmRaisedForAnyUser(t *testing.T) {
	cluster := startCluster(t, 1, func(config *Config) {
		fastBcrypt(config)
		config.QuotaBackendBytes = 1
	})
	ctx := testContext(t)
	client := cluster.client()
	steps := []func() error{
		func() error { _, err := client.UserAdd(ctx, "root", "root-password"); return err },
		func() error { _, err := client.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := client.UserAdd(ctx, "alice", "alice-password"); return err },
		func() error { _, err := client.RoleAdd(ctx, "app"); return err },
		func() error {
			_, err := client.RoleGrantPermission(ctx, "app", "app/", clientv3.GetPrefixRangeEnd("app/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := client.UserGrantRole(ctx, "alice", "app"); return err },
		func() error { _, err := client.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("set-up step %d: %v", i, err)
		}
	}
	alice, err := cluster.userClient("alice", "alice-password", cluster.endpoints()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Put(ctx, "app/x", "v"); !sameError(err, rpctypes.ErrGRPCNoSpace) {
		t.Fatalf("alice's put over the quota: %v, want %v", err, rpctypes.ErrGRPCNoSpace)
	}
	root, err := cluster.userClient("root", "root-password", cluster.endpoints()...)
	if err != nil {
		t.Fatal(err)
	}
	alarms, err := root.AlarmList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alarms.Alarms) != 1 || alarms.Alarms[0].Alarm != pb.AlarmType_NOSPACE {
		t.Errorf("alarms after alice's put: %v, want NOSPACE", alarms.Alarms)
	}
}
