package server

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lockstepdb/lockstep/kv"
	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// restoringDirectory is where RestoreBackup builds a member inside its data
// directory. Start refuses a data directory that holds one: a restore was
// interrupted there.
const restoringDirectory = ".restoring"

// RestoreBackup creates config.DataDirectory for config.Name as a member of
// a new cluster (config.InitialCluster, config.InitialClusterToken) whose
// state is the backup file at backupPath (from Maintenance.Snapshot,
// etcdctl snapshot save or lockstep snapshot save): the way back after
// losing a majority, like etcdutl snapshot restore. Run it for every member
// with the same backup and the same flags, then start them with lockstep
// serve and the same flags; they start identical.
//
// The new cluster must not be mistaken for the old one: a member ID that
// the backup's cluster used (same peer URLs, same token) is refused, since
// a survivor of the old cluster started by accident could otherwise win an
// election in the new one and overwrite its log. The backup's SHA-256 is
// mixed into the cluster ID, so members restored from different backups
// refuse each other's messages.
//
// The backup is checked whole (SHA-256, then the image's own checksum)
// before anything is written. The member is built in DataDirectory/.restoring
// and moved into place at the end; Start refuses a directory where that was
// interrupted. The data directory must not exist yet, or be empty.
func RestoreBackup(config Config, backupPath string) (kv.ImageInfo, error) {
	config.InitialClusterState = "new"
	config = config.withDefaults()
	if err := config.Validate(); err != nil {
		return kv.ImageInfo{}, err
	}
	if err := checkRestoreTarget(config.DataDirectory); err != nil {
		return kv.ImageInfo{}, err
	}
	file, err := os.Open(backupPath)
	if err != nil {
		return kv.ImageInfo{}, fmt.Errorf("restore: %w", err)
	}
	defer file.Close()
	stat, err := file.Stat()
	if err != nil {
		return kv.ImageInfo{}, fmt.Errorf("restore: %w", err)
	}
	image, digest, err := kv.OpenBackup(file, stat.Size())
	if err != nil {
		return kv.ImageInfo{}, fmt.Errorf("restore: %s: %w", backupPath, err)
	}
	info, err := kv.InspectImage(image)
	if err != nil {
		return kv.ImageInfo{}, fmt.Errorf("restore: %s: %w", backupPath, err)
	}
	if info.Applied == 0 {
		return kv.ImageInfo{}, fmt.Errorf("restore: %s holds an empty store (nothing applied): start a new cluster instead", backupPath)
	}
	if _, err := image.Seek(0, io.SeekStart); err != nil {
		return kv.ImageInfo{}, fmt.Errorf("restore: %w", err)
	}

	who := restoredIdentity(config, digest)
	staging := filepath.Join(config.DataDirectory, restoringDirectory)
	if err := os.RemoveAll(staging); err != nil { // left by a crash
		return kv.ImageInfo{}, fmt.Errorf("restore: %w", err)
	}
	if err := buildRestoredMember(config, who, staging, image, info); err != nil {
		return kv.ImageInfo{}, errors.Join(err, os.RemoveAll(staging))
	}
	if err := moveIntoPlace(staging, config.DataDirectory); err != nil {
		return kv.ImageInfo{}, fmt.Errorf("restore: %w (remove %s and restore again)", err, config.DataDirectory)
	}
	return info, nil
}

// checkRestoreTarget accepts a data directory that does not exist, is
// empty, or holds only an interrupted restore.
func checkRestoreTarget(directory string) error {
	entries, err := os.ReadDir(directory)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	for _, entry := range entries {
		if entry.Name() != restoringDirectory {
			return fmt.Errorf("restore: data directory %s is not empty (it holds %s): restore into a new directory", directory, entry.Name())
		}
	}
	return nil
}

// restoredIdentity is config.Name's identity in the new cluster: member IDs
// as serve computes them, and a cluster ID that also depends on the backup.
func restoredIdentity(config Config, digest []byte) identity {
	who := newClusterIdentity(config)
	ids := make([]raft.NodeID, 0, len(who.Peers))
	for id := range who.Peers {
		ids = append(ids, id)
	}
	who.ClusterID = clusterID(ids, config.InitialClusterToken+"\x00restored from "+hex.EncodeToString(digest))
	who.RestoredFrom = hex.EncodeToString(digest)
	return who
}

// buildRestoredMember fills directory: the store restored from image, the
// Raft log seeded at the image's applied index with the new members as
// voters, then the member's identity; every file and directory durable.
func buildRestoredMember(config Config, who identity, directory string, image *io.SectionReader, info kv.ImageInfo) error {
	if err := os.MkdirAll(directory, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	store, err := kv.Open(filepath.Join(directory, "kv"), kv.Options{Logger: config.Logger, MaxTxnOps: config.MaxTxnOps})
	if err != nil {
		return fmt.Errorf("restore: open key-value store: %w", err)
	}
	if err := store.Restore(image); err != nil {
		return errors.Join(fmt.Errorf("restore: %w", err), store.Close())
	}
	if applied := store.AppliedIndex(); applied != info.Applied {
		return errors.Join(fmt.Errorf("restore: the store restored to index %d, the backup says %d", applied, info.Applied), store.Close())
	}
	for id := range store.MemberAttributes() {
		if _, reused := who.Peers[raft.NodeID(id)]; reused {
			return errors.Join(fmt.Errorf("restore: member ID %x was a member of the backup's cluster (same peer URLs and --initial-cluster-token): use a new --initial-cluster-token, so that no old member can be mistaken for a new one", id), store.Close())
		}
	}
	// The Raft snapshot carries a complete image, sent to any member that
	// joins the new cluster before its next snapshot.
	snapshot, err := store.Snapshot()
	if err != nil {
		return errors.Join(fmt.Errorf("restore: %w", err), store.Close())
	}
	seedErr := node.Seed(node.SeedConfig{
		Directory: filepath.Join(directory, "raft"), Peers: who.Peers, Index: info.Applied,
		SegmentBytes: config.WALSegmentBytes, Image: snapshot,
	})
	if err := errors.Join(seedErr, snapshot.Close(), store.Close()); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := saveIdentity(directory, who); err != nil {
		return err
	}
	return syncDirectories(directory)
}

// moveIntoPlace moves the restored member's parts from staging into
// directory (the Raft log first: a member with only its log restores the
// store from the log's snapshot), then removes staging; directory is
// fsynced after each step.
func moveIntoPlace(staging, directory string) error {
	for _, part := range []string{"raft", "kv", identityFile} {
		if err := os.Rename(filepath.Join(staging, part), filepath.Join(directory, part)); err != nil {
			return err
		}
		if err := vfs.OS.SyncDir(directory); err != nil {
			return err
		}
	}
	if err := os.Remove(staging); err != nil {
		return err
	}
	if err := vfs.OS.SyncDir(directory); err != nil {
		return err
	}
	// directory itself may be new.
	return vfs.OS.SyncDir(filepath.Dir(filepath.Clean(directory)))
}

// syncDirectories fsyncs every directory under root, root included, so
// that the entries created in them survive a crash.
func syncDirectories(root string) error {
	return filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
		if err != nil || !entry.IsDir() {
			return err
		}
		return vfs.OS.SyncDir(path)
	})
}

// refuseInterruptedRestore stops Start on a data directory where
// RestoreBackup did not finish.
func refuseInterruptedRestore(directory string) error {
	if _, err := os.Stat(filepath.Join(directory, restoringDirectory)); err == nil {
		return fmt.Errorf("server: data directory %s holds an interrupted restore (%s): remove the directory and run lockstep snapshot restore again", directory, restoringDirectory)
	}
	return nil
}
