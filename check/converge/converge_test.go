package converge

import (
	"context"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/lockstepdb/lockstep/check/cluster"
)

// TestCheckRefusesACorruptAlarm: a healthy 3-member etcd cluster
// converges; once a CORRUPT alarm is raised for a member (as the members'
// own corruption check raises it), Check fails and names it, though the
// hashes agree.
func TestCheckRefusesACorruptAlarm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real etcd processes")
	}
	system, err := cluster.System{Kind: cluster.Etcd}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	target, err := cluster.Start(ctx, cluster.Config{System: system, Size: 3, Directory: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if _, err := Check(ctx, target); err != nil {
		t.Fatalf("a healthy cluster: %v", err)
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: target.Endpoints(), DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	status, err := client.Status(ctx, target.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	raise := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: status.Header.MemberId, Alarm: pb.AlarmType_CORRUPT}
	if _, err := pb.NewMaintenanceClient(client.ActiveConnection()).Alarm(ctx, raise); err != nil {
		t.Fatal(err)
	}
	_, err = Check(ctx, target)
	if err == nil || !strings.Contains(err.Error(), "CORRUPT alarm") {
		t.Fatalf("a cluster with a CORRUPT alarm: %v, want the alarm named", err)
	}
}
