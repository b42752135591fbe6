package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/internal/poll"
)

// TestFullDiskIsReportedAndSurvived fills one member's store disk (its
// file system answers ENOSPC to every write) until Pebble's flush fails:
// a write is refused at once with ResourceExhausted naming the disk,
// Status, the health check and the metric say so, reads keep working;
// when space returns, the member recovers by itself and nothing
// acknowledged is lost. The same holds, with Unavailable and STORE
// FAILING, when the writes fail with EIO instead (a failing disk).
func TestFullDiskIsReportedAndSurvived(t *testing.T) {
	for _, c := range []struct {
		name    string
		errno   syscall.Errno
		code    codes.Code
		refusal string // in the refused write's error
		status  string // in Status's errors and the health check's reason
		metric  string // 1 while the state lasts
		state   func(*Server) error
	}{
		{"full disk", syscall.ENOSPC, codes.ResourceExhausted, "disk is full", "DISK FULL", "lockstep_store_disk_full", func(s *Server) error { return s.store.DiskFull() }},
		{"failing disk", syscall.EIO, codes.Unavailable, "cannot write its data to disk", "STORE FAILING", "lockstep_store_failing", func(s *Server) error { return s.store.Failing() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var broken atomic.Bool
			injector := errorfs.InjectorFunc(func(op errorfs.Op) error {
				if broken.Load() && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
					return fmt.Errorf("injected: %w", c.errno)
				}
				return nil
			})
			cluster := startCluster(t, 1, func(config *Config) { config.StoreFileSystem = errorfs.Wrap(vfs.Default, injector) })
			ctx := testContext(t)
			client := cluster.client()
			member := cluster.members[0]
			broken.Store(true)
			// Megabyte puts fill a memtable (at most 16 MiB): Pebble flushes
			// it, and fails.
			value := strings.Repeat("v", 1<<20)
			var acknowledged []string
			for i := 0; c.state(member) == nil; i++ {
				if i == 40 {
					t.Fatal("40 MB of puts and no flush failed")
				}
				key := fmt.Sprintf("key-%d", i)
				_, err := client.Put(ctx, key, value)
				switch {
				case err == nil:
					acknowledged = append(acknowledged, key)
				case c.state(member) == nil:
					t.Fatalf("put %d: %v", i, err)
				}
			}
			short, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := client.Put(short, "refused", "v")
			if status.Code(err) != c.code || !strings.Contains(err.Error(), c.refusal) {
				t.Fatalf("put on a %s: %v, want %v naming the disk", c.name, err, c.code)
			}
			response, err := client.Status(ctx, cluster.endpoint(0))
			if err != nil || len(response.Errors) != 1 || !strings.Contains(response.Errors[0], c.status) {
				t.Fatalf("status on a %s: %v %v", c.name, response, err)
			}
			if healthy, reason := member.checkHealth(ctx); healthy || !strings.Contains(reason, c.status) {
				t.Errorf("health on a %s: %v %q", c.name, healthy, reason)
			}
			if got := gauge(t, member, c.metric); got != 1 {
				t.Errorf("%s %v on a %s, want 1", c.metric, got, c.name)
			}
			for _, options := range [][]clientv3.OpOption{nil, {clientv3.WithSerializable()}} {
				if got, err := client.Get(ctx, "key-0", options...); err != nil || len(got.Kvs) != 1 {
					t.Errorf("read on a %s: %v %v", c.name, got, err)
				}
			}
			broken.Store(false)
			poll.Until(t, "the store to recover", func() bool { return c.state(member) == nil })
			if got := gauge(t, member, c.metric); got != 0 {
				t.Errorf("%s %v after recovery, want 0", c.metric, got)
			}
			if _, err := client.Put(ctx, "after", "v"); err != nil {
				t.Fatalf("put after the disk recovered: %v", err)
			}
			for _, key := range acknowledged {
				if got, err := client.Get(ctx, key, clientv3.WithCountOnly()); err != nil || got.Count != 1 {
					t.Fatalf("acknowledged %s after recovery: %v %v", key, got, err)
				}
			}
		})
	}
}

// TestLeaderWithFullDiskHandsOver fills the leader's store disk in a
// three-member cluster: the leader hands leadership to a member that can
// write, the cluster goes on committing, and once space returns the old
// leader catches up, with the same HashKV as the others. The same holds
// for a leader whose store's writes fail with EIO.
func TestLeaderWithFullDiskHandsOver(t *testing.T) {
	for _, c := range []struct {
		name  string
		errno syscall.Errno
		state func(*Server) error
	}{
		{"full disk", syscall.ENOSPC, func(s *Server) error { return s.store.DiskFull() }},
		{"failing disk", syscall.EIO, func(s *Server) error { return s.store.Failing() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cluster, broken := startClusterWithBreakableDisks(t, c.errno)
			ctx := testContext(t)
			client := cluster.client(cluster.endpoints()...)
			first := cluster.leader()
			leader := cluster.members[first]
			broken[cluster.configs[first].Name].Store(true)
			value := strings.Repeat("v", 1<<20)
			for i := 0; c.state(leader) == nil; i++ {
				if i == 40 {
					t.Fatal("40 MB of puts and no flush failed on the leader")
				}
				_, _ = client.Put(ctx, fmt.Sprintf("key-%d", i), value) // refused once the leader knows
			}
			poll.Until(t, "another member to lead", func() bool {
				next := cluster.leader()
				return next != first
			})
			for i := range 5 {
				if _, err := client.Put(ctx, fmt.Sprintf("after-%d", i), "v"); err != nil {
					t.Fatalf("put under the new leader: %v", err)
				}
			}
			broken[cluster.configs[first].Name].Store(false)
			poll.Until(t, "the old leader's disk to take writes again", func() bool { return c.state(leader) == nil })
			checkSameHashes(t, cluster, client)
		})
	}
}

// startClusterWithBreakableDisks starts three members whose store file
// systems answer errno to every write while their member's toggle (by
// name) is set.
func startClusterWithBreakableDisks(t *testing.T, errno syscall.Errno) (*testCluster, map[string]*atomic.Bool) {
	broken := map[string]*atomic.Bool{}
	cluster := startCluster(t, 3, func(config *Config) {
		toggle := &atomic.Bool{}
		broken[config.Name] = toggle
		config.StoreFileSystem = errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
			if toggle.Load() && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
				return fmt.Errorf("injected: %w", errno)
			}
			return nil
		}))
	})
	// Runs before the cluster's own cleanup (registered earlier): a test
	// that fails while a disk is full would otherwise leave the members'
	// close waiting for space that never returns (a helper's run hung
	// until the 30-minute test timeout).
	t.Cleanup(func() {
		for _, toggle := range broken {
			toggle.Store(false)
		}
	})
	return cluster, broken
}

// checkSameHashes puts one more key, waits for every member to apply it,
// and fails the test unless all agree on HashKV at its revision.
func checkSameHashes(t *testing.T, cluster *testCluster, client *clientv3.Client) {
	t.Helper()
	ctx := testContext(t)
	response, err := client.Put(ctx, "last", "v")
	if err != nil {
		t.Fatal(err)
	}
	revision := response.Header.Revision
	// A member that was full catches up on everything it missed (a
	// snapshot of the store, on the tmpfs tests a few megabytes): under
	// load (a go test -count=20 run beside other packages' tests) this took
	// longer than poll's usual bound.
	started := time.Now()
	defer func() { t.Logf("every member applied the last put %v after it", time.Since(started)) }()
	poll.Within(t, time.Minute, "every member to apply the last put", func() bool {
		for _, member := range cluster.members {
			if current, _ := member.store.Revision(); current < revision {
				return false
			}
		}
		return true
	})
	var hashes []uint32
	for _, member := range cluster.members {
		hash, _, _, err := member.store.HashKV(revision)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hash)
	}
	if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
		t.Errorf("members disagree on HashKV after the disk recovered: %v", hashes)
	}
}

// TestFollowerWithFullDiskCatchesUp fills a follower's store disk in a
// three-member cluster: writes go on committing through the leader, the
// follower refuses nothing and falls behind, and once space returns it
// catches up by itself, with the same HashKV as the others.
func TestFollowerWithFullDiskCatchesUp(t *testing.T) {
	cluster, full := startClusterWithBreakableDisks(t, syscall.ENOSPC)
	ctx := testContext(t)
	index := cluster.follower()
	follower := cluster.members[index]
	client := cluster.client(cluster.endpoint(index)) // writes through the full member
	full[cluster.configs[index].Name].Store(true)
	value := strings.Repeat("v", 1<<20)
	written := 0
	for ; follower.store.DiskFull() == nil; written++ {
		if written == 40 {
			t.Fatal("40 MB of puts and no flush failed on the follower")
		}
		if err := putThroughElections(ctx, client, fmt.Sprintf("key-%d", written), value); err != nil {
			t.Fatalf("put %d: %v", written, err)
		}
	}
	for i := range 5 {
		if err := putWhileMemberFull(t, ctx, cluster, index, client, fmt.Sprintf("while-full-%d", i), "v"); err != nil {
			t.Fatalf("put through a follower whose disk is full: %v", err)
		}
	}
	full[cluster.configs[index].Name].Store(false)
	poll.Until(t, "the follower's disk to take writes again", func() bool { return follower.store.DiskFull() == nil })
	checkSameHashes(t, cluster, client)
}

// putThroughElections puts key, trying again (up to five times) when the
// put failed for an election or timed out: the tests' 200 ms election
// timeout can run out on a loaded machine (and a put then waits out its
// 5 s when its proposal was lost with the old leader), which is no fault
// of the disk. Putting the same key and value again is harmless here; a
// cluster that cannot commit still fails all five.
// putWhileMemberFull puts through client while member index's disk is
// full, as putThroughElections does. An election on a loaded machine may
// make the full member lead (it did, in go test -count=20 runs): a full
// leader refuses writes and hands over, as
// TestRealDiskLeaderFillsAndHandsOver checks, so the put is tried again
// once it has.
func putWhileMemberFull(t *testing.T, ctx context.Context, cluster *testCluster, index int, client *clientv3.Client, key, value string) error {
	t.Helper()
	err := putThroughElections(ctx, client, key, value)
	if status.Code(err) == codes.ResourceExhausted && cluster.leader() == index {
		t.Logf("the full member was elected leader; waiting for its hand-over")
		poll.Until(t, "the full leader to hand leadership over", func() bool { return cluster.leader() != index })
		err = putThroughElections(ctx, client, key, value)
	}
	return err
}

func putThroughElections(ctx context.Context, client *clientv3.Client, key, value string) error {
	var err error
	for range 5 {
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = client.Put(short, key, value)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, rpctypes.ErrLeaderChanged) && !errors.Is(err, rpctypes.ErrNoLeader) &&
			status.Code(err) != codes.Unavailable && !errors.Is(err, context.DeadlineExceeded) && status.Code(err) != codes.DeadlineExceeded {
			return err
		}
	}
	return err
}
