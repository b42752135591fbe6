package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/snapshot"
	"go.uber.org/zap"
)

// TestBackupAndRestoreIntoNewCluster saves a backup with clientv3's own
// snapshot code (what etcdctl snapshot save runs), loses the whole cluster,
// restores the backup into three new members and checks that the new
// cluster holds the same keys at the same revisions, agrees on its hash,
// lists only its own members, and takes writes.
func TestBackupAndRestoreIntoNewCluster(t *testing.T) {
	ctx := testContext(t)
	old := startCluster(t, 3, nil)
	client := old.client(old.endpoints()...)
	for i := range 40 {
		if _, err := client.Put(ctx, fmt.Sprintf("/key/%02d", i%25), fmt.Sprintf("value-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Delete(ctx, "/key/07"); err != nil {
		t.Fatal(err)
	}
	lease, err := client.Grant(ctx, 600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "/leased", "x", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	want, err := client.Get(ctx, "/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	leader := old.leader()
	version, err := snapshot.SaveWithVersion(ctx, zap.NewNop(), clientv3.Config{Endpoints: []string{old.endpoint(leader)}}, backup)
	if err != nil {
		t.Fatalf("clientv3 snapshot save: %v", err)
	}
	if version != EmulatedVersion {
		t.Errorf("snapshot version %q, want %q", version, EmulatedVersion)
	}
	oldClusterID := old.members[0].clusterID
	old.stopAll()

	// The backup restores only into an empty directory, and only whole.
	occupied := t.TempDir()
	os.WriteFile(filepath.Join(occupied, "something"), nil, 0o600)
	config := old.configs[0]
	config.DataDirectory = occupied
	if _, err := RestoreBackup(config, backup); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore into a non-empty directory: %v", err)
	}
	data, _ := os.ReadFile(backup)
	data[len(data)/3] ^= 1
	damaged := filepath.Join(t.TempDir(), "damaged.db")
	os.WriteFile(damaged, data, 0o600)
	config.DataDirectory = filepath.Join(t.TempDir(), "fresh")
	if _, err := RestoreBackup(config, damaged); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("restore of a damaged backup: %v", err)
	}
	if _, err := os.Stat(config.DataDirectory); !os.IsNotExist(err) {
		t.Errorf("a failed restore left %s behind (%v)", config.DataDirectory, err)
	}

	restored := startCluster(t, 3, func(config *Config) {
		config.InitialClusterToken = "restored"
		info, err := RestoreBackup(*config, backup)
		if err != nil {
			t.Fatalf("restore %s: %v", config.Name, err)
		}
		if info.Revision != want.Header.Revision || info.Keys != len(want.Kvs) {
			t.Fatalf("restore %s: %+v, want revision %d and %d keys", config.Name, info, want.Header.Revision, len(want.Kvs))
		}
	})
	restored.leader()
	newClient := restored.client(restored.endpoints()...)
	got, err := newClient.Get(ctx, "/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.Revision != want.Header.Revision || len(got.Kvs) != len(want.Kvs) {
		t.Fatalf("restored cluster: revision %d with %d keys, want %d with %d", got.Header.Revision, len(got.Kvs), want.Header.Revision, len(want.Kvs))
	}
	for i := range want.Kvs {
		if got.Kvs[i].String() != want.Kvs[i].String() {
			t.Errorf("restored %s, want %s", got.Kvs[i], want.Kvs[i])
		}
	}
	put, err := newClient.Put(ctx, "/after", "restore")
	if err != nil {
		t.Fatal(err)
	}
	if put.Header.Revision != want.Header.Revision+1 {
		t.Errorf("first write after the restore at revision %d, want %d", put.Header.Revision, want.Header.Revision+1)
	}
	// Members publish their names through the log once started: wait for
	// all three, then check that only the new members are listed.
	var members *clientv3.MemberListResponse
	for deadline := time.Now().Add(30 * time.Second); ; {
		members, err = newClient.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		named := 0
		for _, member := range members.Members {
			if member.Name != "" {
				named++
			}
		}
		if named == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(testHeartbeat) // polling real servers, bounded by the deadline
	}
	if len(members.Members) != 3 {
		t.Fatalf("restored cluster lists %d members, want its own 3: %v", len(members.Members), members.Members)
	}
	for _, member := range members.Members {
		if member.Name == "" || member.PeerURLs[0] != restored.configs[0].InitialCluster[member.Name][0] {
			t.Errorf("member %+v is not one of the restored cluster's", member)
		}
	}
	if members.Header.ClusterId == oldClusterID {
		t.Error("the restored cluster kept the old cluster's ID")
	}
	var hashes []uint32
	for i := range 3 {
		hash, err := newClient.HashKV(ctx, restored.endpoint(i), put.Header.Revision)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hash.Hash)
	}
	if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
		t.Errorf("members disagree after the restore: hashes %v", hashes)
	}
}
