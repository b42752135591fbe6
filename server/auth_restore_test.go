package server

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/snapshot"
	"go.uber.org/zap"
)

// TestAuthSurvivesBackupAndRestore saves a backup of a cluster with auth
// enabled (as root: a snapshot is root's), restores it into a new
// cluster, and checks that the users, their passwords, their permissions
// and the auth switch came along.
func TestAuthSurvivesBackupAndRestore(t *testing.T) {
	ctx := testContext(t)
	old := startCluster(t, 1, fastBcrypt)
	enableAuthForAlice(t, ctx, old.client())
	backup := filepath.Join(t.TempDir(), "backup.db")
	rootConfig := clientv3.Config{Endpoints: old.endpoints(), Username: "root", Password: "root-password", Logger: zap.NewNop()}
	if _, err := snapshot.SaveWithVersion(ctx, zap.NewNop(), rootConfig, backup); err != nil {
		t.Fatalf("snapshot save as root: %v", err)
	}
	old.stopAll()

	restored := startCluster(t, 1, func(config *Config) {
		fastBcrypt(config)
		config.InitialClusterToken = "restored"
		if _, err := RestoreBackup(*config, backup); err != nil {
			t.Fatalf("restore: %v", err)
		}
	})
	restored.leader()
	anonymous := restored.client()
	if _, err := anonymous.Put(ctx, "app/x", "v"); !sameError(err, rpctypes.ErrGRPCUserEmpty) {
		t.Errorf("anonymous put after the restore: %v, want %v", err, rpctypes.ErrGRPCUserEmpty)
	}
	alice, err := restored.userClient("alice", "alice-password", restored.endpoints()...)
	if err != nil {
		t.Fatalf("alice authenticates after the restore: %v", err)
	}
	if _, err := alice.Put(ctx, "app/x", "v"); err != nil {
		t.Errorf("alice puts app/x after the restore: %v", err)
	}
	if _, err := alice.Put(ctx, "other", "v"); !sameError(err, rpctypes.ErrGRPCPermissionDenied) {
		t.Errorf("alice puts other after the restore: %v", err)
	}
}

// TestAuthPasswordsNeverReachDisk adds users, changes a password and
// authenticates on a three-member cluster, then reads every file of every
// member's data directory (log, snapshots, store): no password is there
// in clear.
func TestAuthPasswordsNeverReachDisk(t *testing.T) {
	ctx := testContext(t)
	cluster := startCluster(t, 3, fastBcrypt)
	client := cluster.client(cluster.endpoint(cluster.follower()))
	enableAuthForAlice(t, ctx, client)
	root, err := cluster.userClient("root", "root-password", cluster.endpoints()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.UserChangePassword(ctx, "alice", "changed-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.userClient("alice", "changed-password", cluster.endpoints()...); err != nil {
		t.Fatal(err)
	}
	cluster.stopAll()
	for _, password := range []string{"root-password", "alice-password", "changed-password"} {
		err := filepath.WalkDir(cluster.dir, func(path string, entry fs.DirEntry, err error) error {
			if err != nil || entry.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(data, []byte(password)) {
				t.Errorf("%s holds the password %q in clear", path, password)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
