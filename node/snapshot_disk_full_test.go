package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// fullSnapshotDisk makes saving a snapshot of node id fail with ENOSPC
// while full is set (creating its temporary file is refused), and counts
// the attempts.
func fullSnapshotDisk(disk *vfs.MemFS, id raft.NodeID, full *atomic.Bool, attempts *atomic.Int64) {
	prefix := filepath.Join(directoryOf(id), "snap") + "/"
	disk.SetFault(func(operation vfs.Operation, name string) error {
		if operation == vfs.OperationCreate && strings.HasPrefix(name, prefix) && strings.HasSuffix(name, ".tmp") {
			attempts.Add(1)
			if full.Load() {
				return fmt.Errorf("injected: %w", syscall.ENOSPC)
			}
		}
		return nil
	})
}

// TestSnapshotOnFullDiskIsPacedAndTakenLater: a node whose snapshot cannot
// be saved for a full disk keeps running on its log (it commits, does not
// stop), tries again at a pace (a second, then twice as long each time,
// not on every pass of its loop), and takes the snapshot once space
// returns. Before, the failed save stopped the node.
func TestSnapshotOnFullDiskIsPacedAndTakenLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cluster := newConfiguredTestCluster(t, 1, 5, streamedSnapshots, smallAsyncSegments)
		node := cluster.leader(ctx)
		var full atomic.Bool
		var attempts atomic.Int64
		full.Store(true)
		fullSnapshotDisk(cluster.disk, node.config.ID, &full, &attempts)
		events, cancelEvents := node.Subscribe(64)
		defer cancelEvents()
		for i := 1; i <= 20; i++ {
			if _, err := node.Propose(ctx, add(1)); err != nil {
				t.Fatalf("proposal %d with the snapshot disk full: %v", i, err)
			}
		}
		// Half a minute of simulated time with a proposal every 100 ms (a
		// capture is considered as entries apply): with tries 1, 2, 4, 8
		// and 16 s apart, about five tries, not hundreds.
		for range 300 {
			time.Sleep(100 * time.Millisecond)
			if _, err := node.Propose(ctx, add(1)); err != nil {
				t.Fatalf("proposal with the snapshot disk full: %v", err)
			}
		}
		if err := node.Err(); err != nil {
			t.Fatalf("the node stopped on a full snapshot disk: %v", err)
		}
		if tries := attempts.Load(); tries < 2 || tries > 8 {
			t.Fatalf("%d tries to save a snapshot in 30 s of a full disk, want a paced few", tries)
		}
		if _, err := node.Propose(ctx, add(1)); err != nil {
			t.Fatalf("proposal after 30 s of a full snapshot disk: %v", err)
		}
		full.Store(false)
		deadline := time.After(2 * time.Minute) // the next try is at most a minute away
		for {
			select {
			case event := <-events:
				if event.Kind == SnapshotTaken {
					return
				}
			case <-deadline:
				t.Fatalf("no snapshot taken within two minutes of space returning (%d tries)", attempts.Load())
			case <-time.After(time.Second):
				if _, err := node.Propose(ctx, add(1)); err != nil {
					t.Fatalf("proposal after space returned: %v", err)
				}
			}
		}
	})
}
