package cluster

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/check/proxy"
)

// TestEtcdClusterUnderControl drives a real three-member etcd through the
// controls the fault injector uses: a partition through the proxies (the
// isolated leader is replaced and cannot serve reads; healing restores it),
// leadership transfer, removal and re-addition of a member, kill and
// restart, and a Close that leaves no process behind.
func TestEtcdClusterUnderControl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real etcd processes")
	}
	system, err := System{Kind: Etcd}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster, err := Start(ctx, Config{System: system, Size: 3, Directory: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()

	oldLeader, err := cluster.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, member := range cluster.Members() {
		if member != oldLeader {
			others = append(others, member.Name)
		}
	}
	if err := cluster.Network().Partition(proxy.Stall, []string{oldLeader.Name}, others); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "a new leader on the majority side", func() bool {
		leader, err := cluster.Leader(ctx)
		return err == nil && leader != oldLeader
	})
	isolated, cancelIsolated := context.WithTimeout(ctx, 3*time.Second)
	err = cluster.WaitHealthy(isolated, oldLeader.Name)
	cancelIsolated()
	if err == nil {
		t.Fatal("the isolated old leader served a linearizable read")
	}
	cluster.Network().Heal()
	if err := cluster.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}

	if err := cluster.MoveLeader(ctx, oldLeader); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "leadership to move back", func() bool {
		leader, err := cluster.Leader(ctx)
		return err == nil && leader == oldLeader
	})

	member := cluster.Members()[1]
	oldID := member.ID()
	if err := cluster.RemoveMember(ctx, member); err != nil {
		t.Fatal(err)
	}
	if member.Running() || !member.Removed() {
		t.Fatal("a removed member is still running or not marked removed")
	}
	if err := cluster.AddMember(ctx, member); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	if member.ID() == oldID || member.ID() == 0 {
		t.Fatalf("re-added member has ID %x, was %x", member.ID(), oldID)
	}

	if err := cluster.Kill(ctx, member); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Restart(member); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	if exits := cluster.UnexpectedExits(); len(exits) > 0 {
		t.Fatalf("unexpected exits: %v", exits)
	}

	var pids []int
	for _, member := range cluster.Members() {
		pids = append(pids, member.PID())
	}
	if err := cluster.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after Close (signal 0: %v)", pid, err)
		}
	}
}

// waitFor polls condition until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, condition func() bool) {
	t.Helper()
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for !condition() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s: %v", what, ctx.Err())
		case <-ticker.C:
		}
	}
}

func TestLockstepNeedsABinaryInTests(t *testing.T) {
	if _, err := (System{Kind: Lockstep}).Resolve(); err == nil {
		t.Fatal("Resolve chose the test binary as the lockstep executable")
	}
	if _, err := (System{Kind: "zookeeper"}).Resolve(); err == nil {
		t.Fatal("Resolve accepted an unknown system")
	}
	if _, err := (System{Kind: Etcd, Binary: "/nonexistent/etcd"}).Resolve(); err == nil {
		t.Fatal("Resolve accepted a missing binary")
	}
}
