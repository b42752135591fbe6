package server

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/internal/poll"
	"github.com/lockstepdb/lockstep/vfs"
)

// noSegmentSpaceFS refuses, with ENOSPC, to create the Raft log's next
// segment file while full is set: the disk has no room for it.
type noSegmentSpaceFS struct {
	vfs.FS
	full *atomic.Bool
}

func (f noSegmentSpaceFS) Create(name string) (vfs.File, error) {
	if f.full.Load() && strings.HasSuffix(name, ".wal.tmp") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("injected: %w", syscall.ENOSPC)}
	}
	return f.FS.Create(name)
}

// gauge returns the value of the gauge name on member.
func gauge(t *testing.T, member *Server, name string) float64 {
	t.Helper()
	families, err := member.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, family := range families {
		if family.GetName() == name {
			return family.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestFullLogDiskIsReportedAndSurvived fills the Raft log's disk of a
// single member: the write that needs a new segment is not acknowledged,
// and the member keeps running: later writes are refused at once with
// ResourceExhausted naming the log's disk, Status, the health check and
// lockstep_wal_disk_full say so, reads keep working. When space returns,
// the member resumes by itself, without a restart, and nothing
// acknowledged is lost.
func TestFullLogDiskIsReportedAndSurvived(t *testing.T) {
	var full atomic.Bool
	cluster := startCluster(t, 1, func(config *Config) {
		config.LogFileSystem = noSegmentSpaceFS{FS: vfs.OS, full: &full}
		config.WALSegmentBytes = 4096
	})
	ctx := testContext(t)
	client := cluster.client()
	member := cluster.members[0]
	full.Store(true)
	var acknowledged []string
	for i := 0; member.node.LogDiskFull() == nil; i++ {
		if i == 200 {
			t.Fatal("200 puts of 200 bytes in 4 KiB segments and the log never needed a new one")
		}
		key := fmt.Sprintf("key-%d", i)
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.Put(short, key, strings.Repeat("v", 200))
		cancel()
		switch {
		case err == nil:
			acknowledged = append(acknowledged, key)
		case member.node.LogDiskFull() == nil:
			t.Fatalf("put %d: %v", i, err)
		}
	}
	_, err := client.Put(ctx, "refused", "v")
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "Raft log disk is full") {
		t.Fatalf("put on a full log disk: %v, want ResourceExhausted naming the log's disk", err)
	}
	response, err := client.Status(ctx, cluster.endpoint(0))
	if err != nil || len(response.Errors) != 1 || !strings.Contains(response.Errors[0], "RAFT LOG DISK FULL") {
		t.Fatalf("status on a full log disk: %v %v", response, err)
	}
	if healthy, reason := member.checkHealth(ctx); healthy || !strings.Contains(reason, "RAFT LOG DISK FULL") {
		t.Errorf("health on a full log disk: %v %q", healthy, reason)
	}
	if got := gauge(t, member, "lockstep_wal_disk_full"); got != 1 {
		t.Errorf("lockstep_wal_disk_full %v on a full log disk, want 1", got)
	}
	if got, err := client.Get(ctx, acknowledged[0], clientv3.WithSerializable()); err != nil || len(got.Kvs) != 1 {
		t.Errorf("read on a full log disk: %v %v", got, err)
	}
	if member.node.Err() != nil {
		t.Fatalf("the member stopped: %v", member.node.Err())
	}
	full.Store(false)
	poll.Until(t, "the log to take writes again", func() bool { return member.node.LogDiskFull() == nil })
	if _, err := client.Put(ctx, "after", "v"); err != nil {
		t.Fatalf("put after space returned: %v", err)
	}
	if got := gauge(t, member, "lockstep_wal_disk_full"); got != 0 {
		t.Errorf("lockstep_wal_disk_full %v once space returned, want 0", got)
	}
	for _, key := range append(acknowledged, "after") {
		if got, err := client.Get(ctx, key, clientv3.WithCountOnly()); err != nil || got.Count != 1 {
			t.Fatalf("acknowledged %s after recovery: %v %v", key, got, err)
		}
	}
}
