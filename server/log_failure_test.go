package server

import (
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/internal/poll"
	"github.com/lockstepdb/lockstep/vfs"
)

// failingSyncFS fails every fsync of a file while fail is set, with EIO.
type failingSyncFS struct {
	vfs.FS
	fail *atomic.Bool
}

func (f failingSyncFS) Create(name string) (vfs.File, error) {
	file, err := f.FS.Create(name)
	return failingSyncFile{File: file, fail: f.fail}, err
}

func (f failingSyncFS) OpenReadWrite(name string) (vfs.File, error) {
	file, err := f.FS.OpenReadWrite(name)
	return failingSyncFile{File: file, fail: f.fail}, err
}

type failingSyncFile struct {
	vfs.File
	fail *atomic.Bool
}

func (f failingSyncFile) Sync() error {
	if f.fail.Load() {
		return fmt.Errorf("injected fsync failure: %w", syscall.EIO)
	}
	return f.File.Sync()
}

// TestFailedLogFsyncStopsWritesUntilRestart fails one fsync of a single
// member's Raft log: from then on every write is refused with Unavailable
// naming the failed log, even once fsync works again (the kernel may have
// dropped the data, so nothing is retried), the health check says so, and
// a restart recovers every acknowledged write from the log.
func TestFailedLogFsyncStopsWritesUntilRestart(t *testing.T) {
	var fail atomic.Bool
	cluster := startCluster(t, 1, func(config *Config) {
		config.LogFileSystem = failingSyncFS{FS: vfs.OS, fail: &fail}
	})
	ctx := testContext(t)
	client := cluster.client()
	if _, err := client.Put(ctx, "acknowledged", "v"); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if _, err := client.Put(ctx, "failing", "v"); err == nil {
		t.Fatal("a put whose fsync failed was acknowledged")
	}
	fail.Store(false)
	member := cluster.members[0]
	poll.Until(t, "the member's Raft loop to stop", func() bool { return member.node.Err() != nil })
	_, err := client.Put(ctx, "after", "v")
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "Raft log failed") || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("put after a failed fsync: %v, want Unavailable naming the failed log and EIO", err)
	}
	if healthy, reason := member.checkHealth(ctx); healthy || !strings.Contains(reason, "STORAGE FAILED") {
		t.Errorf("health after a failed fsync: %v %q", healthy, reason)
	}
	cluster.stop(0)
	cluster.start(0)
	client = cluster.client()
	got, err := client.Get(ctx, "acknowledged")
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("acknowledged key after restart: %v %v", got, err)
	}
	if _, err := client.Put(ctx, "after-restart", "v"); err != nil {
		t.Fatalf("put after restart: %v", err)
	}
}
