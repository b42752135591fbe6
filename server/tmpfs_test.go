//go:build linux

package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/internal/poll"
)

// TestRealDiskFillsAndRecovers runs one member on a 32 MiB tmpfs (root
// only: CI runs as root) and puts megabyte values until the disk is full.
// A write is then refused at once with an error naming the cause (the
// store's or the Raft log's full disk, ResourceExhausted, or the Raft
// log's failure, Unavailable), never by a client deadline; only the write
// in flight when the log's writes pause may wait for its deadline (it
// stays unacknowledged, and may commit once space returns). The tmpfs is
// then grown: a full store or log recovers by itself, a failed log after a
// restart, and every acknowledged put is there.
func TestRealDiskFillsAndRecovers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mountPoint := t.TempDir()
	if err := syscall.Mount("tmpfs", mountPoint, "tmpfs", 0, "size=32m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	// Registered before the cluster's cleanup, so it runs after it.
	t.Cleanup(func() {
		if err := syscall.Unmount(mountPoint, 0); err != nil {
			t.Errorf("unmount %s: %v", mountPoint, err)
		}
	})
	cluster := startCluster(t, 1, func(config *Config) {
		config.DataDirectory = filepath.Join(mountPoint, config.Name)
		config.WALSegmentBytes = 4 << 20
	})
	ctx := testContext(t)
	client := cluster.client()
	value := strings.Repeat("v", 1<<20)
	var acknowledged []string
	var refusal error
	for i := 0; refusal == nil; i++ {
		if i == 200 {
			t.Fatal("200 MB of puts fit on a 32 MiB tmpfs")
		}
		key := fmt.Sprintf("key-%d", i)
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := client.Put(short, key, value)
		cancel()
		switch code := status.Code(err); {
		case err == nil:
			acknowledged = append(acknowledged, key)
		case code == codes.ResourceExhausted || code == codes.Unavailable:
			refusal = err
		case (errors.Is(err, context.DeadlineExceeded) || code == codes.DeadlineExceeded) && cluster.members[0].node.LogDiskFull() != nil:
			refusal = err // in flight when the log paused
		default:
			t.Fatalf("put %d on a filling disk: %v, want success or a refusal naming the cause", i, err)
		}
	}
	// The next write is refused at once, naming the cause.
	started := time.Now()
	_, err := client.Put(ctx, "refused", "v")
	if elapsed := time.Since(started); err == nil || elapsed > time.Second {
		t.Fatalf("put on a full disk: %v after %v, want a refusal at once", err, elapsed)
	}
	if !strings.Contains(err.Error(), "disk is full") && !strings.Contains(err.Error(), "Raft log failed") {
		t.Fatalf("put on a full disk: %v, want the cause named", err)
	}
	t.Logf("%d puts acknowledged, then: %v", len(acknowledged), err)
	if err := syscall.Mount("tmpfs", mountPoint, "tmpfs", syscall.MS_REMOUNT, "size=512m"); err != nil {
		t.Fatalf("grow the tmpfs: %v", err)
	}
	member := cluster.members[0]
	if member.node.Err() != nil {
		cluster.stop(0)
		cluster.start(0)
		client = cluster.client()
	} else {
		poll.Until(t, "the store and the log to take writes again", func() bool {
			return member.store.DiskFull() == nil && member.node.LogDiskFull() == nil
		})
	}
	if _, err := client.Put(ctx, "after", "v"); err != nil {
		t.Fatalf("put once space returned: %v", err)
	}
	for _, key := range acknowledged {
		if got, err := client.Get(ctx, key, clientv3.WithCountOnly()); err != nil || got.Count != 1 {
			t.Fatalf("acknowledged %s once space returned: %v %v", key, got, err)
		}
	}
}
