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

	// Same peer URLs and token as the old cluster: the same member IDs,
	// which a survivor of the old cluster could be mistaken for.
	sameToken := old.configs[0]
	sameToken.DataDirectory = filepath.Join(t.TempDir(), "same-token")
	if _, err := RestoreBackup(sameToken, backup); err == nil || !strings.Contains(err.Error(), "new --initial-cluster-token") {
		t.Errorf("restore with the old cluster's URLs and token: %v", err)
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
		// A follower may not have applied the put yet.
		for deadline := time.Now().Add(30 * time.Second); ; {
			status, err := newClient.Status(ctx, restored.endpoint(i))
			if err != nil {
				t.Fatal(err)
			}
			if status.Header.Revision >= put.Header.Revision || time.Now().After(deadline) {
				break
			}
			time.Sleep(testHeartbeat) // polling a real server, bounded by the deadline
		}
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

// TestRestoredClusterIDDependsOnTheBackup: members restored from different
// backups get different cluster IDs (so their transports refuse each other)
// and the same member IDs as serve computes.
func TestRestoredClusterIDDependsOnTheBackup(t *testing.T) {
	config := Config{Name: "a", InitialCluster: map[string][]string{"a": {"http://10.0.0.1:2380"}, "b": {"http://10.0.0.2:2380"}}, InitialClusterToken: "t"}
	first := restoredIdentity(config, []byte{1})
	second := restoredIdentity(config, []byte{2})
	fresh := newClusterIdentity(config)
	if first.ClusterID == second.ClusterID || first.ClusterID == fresh.ClusterID {
		t.Errorf("cluster IDs: backup 1 %x, backup 2 %x, no backup %x; want all different", first.ClusterID, second.ClusterID, fresh.ClusterID)
	}
	if first.MemberID != fresh.MemberID || len(first.Peers) != 2 {
		t.Errorf("restored identity %+v, serve's %+v: want the same member IDs", first, fresh)
	}
}

// TestStartRefusesInterruptedRestore: a data directory where a restore
// did not finish is not started.
func TestStartRefusesInterruptedRestore(t *testing.T) {
	directory := t.TempDir()
	if err := os.Mkdir(filepath.Join(directory, restoringDirectory), 0o700); err != nil {
		t.Fatal(err)
	}
	config := Config{Name: "a", DataDirectory: directory, ListenClientURLs: []string{"http://127.0.0.1:0"},
		ListenPeerURLs: []string{"http://127.0.0.1:0"}, InitialCluster: map[string][]string{"a": {"http://127.0.0.1:0"}}, Logger: testLogger(t)}
	if member, err := Start(config); err == nil || !strings.Contains(err.Error(), "interrupted restore") {
		if member != nil {
			member.Stop(testContext(t))
		}
		t.Fatalf("Start on an interrupted restore: %v", err)
	}
}
