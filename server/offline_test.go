package server

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lockstepdb/lockstep/kv"
)

// TestOfflineBackupReplaysTheLog gives a stopped member a store that trails
// its log, as a crash leaves it (the store is made durable by flushes, the
// log by fsyncs), and checks that OpenOfflineBackup backs up the state the
// log records as committed, not the stale store.
func TestOfflineBackupReplaysTheLog(t *testing.T) {
	ctx := testContext(t)
	cluster := startCluster(t, 1, nil)
	cluster.leader()
	client := cluster.client(cluster.endpoints()...)
	put := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := client.Put(ctx, fmt.Sprintf("key-%02d", i), "value"); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(0, 10)
	cluster.stop(0)
	directory := cluster.configs[0].DataDirectory
	stale := filepath.Join(t.TempDir(), "kv")
	if output, err := exec.Command("cp", "-a", filepath.Join(directory, "kv"), stale).CombinedOutput(); err != nil {
		t.Fatalf("copy the store: %v\n%s", err, output)
	}
	cluster.start(0)
	cluster.leader()
	client = cluster.client(cluster.endpoints()...)
	put(10, 20)
	cluster.stop(0)
	// The crash: the store as it was ten writes ago, the log complete.
	if err := os.RemoveAll(filepath.Join(directory, "kv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(stale, filepath.Join(directory, "kv")); err != nil {
		t.Fatal(err)
	}

	stream, err := OpenOfflineBackup(directory, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	backup, err := io.ReadAll(stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}
	image, _, err := kv.OpenBackup(strings.NewReader(string(backup)), int64(len(backup)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := kv.InspectImage(image)
	if err != nil {
		t.Fatal(err)
	}
	if info.Keys != 20 || info.Revision != 21 {
		t.Fatalf("offline backup holds %d keys at revision %d, want the log's 20 at 21", info.Keys, info.Revision)
	}
	// The member's own store is untouched (the replay ran on a copy, now
	// removed): it may still rejoin its cluster.
	own, err := kv.Open(filepath.Join(directory, "kv"), kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if revision, _ := own.Revision(); revision != 11 {
		t.Errorf("the member's own store moved to revision %d; the backup must not change it (want 11)", revision)
	}
	if err := own.Close(); err != nil {
		t.Fatal(err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(directory), ".lockstep-backup-*")); len(leftovers) > 0 {
		t.Errorf("scratch copies left behind: %v", leftovers)
	}
	// It restarts and, leading its one-member cluster, applies its log.
	cluster.start(0)
	cluster.leader()
	client = cluster.client(cluster.endpoints()...)
	got, err := client.Get(ctx, "key-", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if got.Count != 20 {
		t.Fatalf("after the offline backup the member serves %d keys, want 20", got.Count)
	}

	if _, err := OpenOfflineBackup(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "not a member's data directory") {
		t.Errorf("an empty directory: %v", err)
	}
	if _, err := OpenOfflineBackup(directory, nil); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("a running member's directory: %v", err)
	}
}
