package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lockstepdb/lockstep/kv"
	"github.com/lockstepdb/lockstep/node"
)

// RestoreBackup creates config.DataDirectory for config.Name as a member of
// a new cluster (config.InitialCluster, config.InitialClusterToken) whose
// state is the backup file at backupPath (from Maintenance.Snapshot,
// etcdctl snapshot save or lockstep snapshot save): the way back after
// losing a majority, like etcdutl snapshot restore. Run it for every member
// with the same backup and the same flags, then start them with lockstep
// serve and the same flags; they start identical, and the old cluster's
// members are not part of the new one.
//
// The backup is checked whole (SHA-256, then the image's own checksum)
// before anything is written. The directory is built beside the target and
// renamed into place at the end, so a failure or crash leaves no
// half-restored member for serve to start from. The data directory must not
// exist yet, or be empty.
func RestoreBackup(config Config, backupPath string) (kv.ImageInfo, error) {
	config.InitialClusterState = "new"
	config = config.withDefaults()
	if err := config.Validate(); err != nil {
		return kv.ImageInfo{}, err
	}
	if entries, err := os.ReadDir(config.DataDirectory); err == nil && len(entries) > 0 {
		return kv.ImageInfo{}, fmt.Errorf("restore: data directory %s is not empty: restore into a new directory", config.DataDirectory)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return kv.ImageInfo{}, fmt.Errorf("restore: %w", err)
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
	image, err := kv.OpenBackup(file, stat.Size())
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

	staging := filepath.Clean(config.DataDirectory) + ".restoring"
	if err := os.RemoveAll(staging); err != nil { // left by a crash
		return kv.ImageInfo{}, fmt.Errorf("restore: %w", err)
	}
	if err := buildRestoredMember(config, staging, image, info); err != nil {
		return kv.ImageInfo{}, errors.Join(err, os.RemoveAll(staging))
	}
	os.Remove(config.DataDirectory) // empty, if it exists
	if err := os.Rename(staging, config.DataDirectory); err != nil {
		return kv.ImageInfo{}, errors.Join(fmt.Errorf("restore: %w", err), os.RemoveAll(staging))
	}
	if err := syncDirectory(filepath.Dir(filepath.Clean(config.DataDirectory))); err != nil {
		return kv.ImageInfo{}, fmt.Errorf("restore: %w", err)
	}
	return info, nil
}

// buildRestoredMember fills directory: the store restored from image, the
// Raft log seeded at the image's applied index with the new members as
// voters, then the member's identity, each durable before the next.
func buildRestoredMember(config Config, directory string, image *io.SectionReader, info kv.ImageInfo) error {
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
	// The Raft snapshot carries a complete image, sent to any member that
	// joins the new cluster before its next snapshot.
	snapshot, err := store.Snapshot()
	if err != nil {
		return errors.Join(fmt.Errorf("restore: %w", err), store.Close())
	}
	who := newClusterIdentity(config)
	seedErr := node.Seed(node.SeedConfig{
		Directory: filepath.Join(directory, "raft"), Peers: who.Peers, Index: info.Applied,
		SegmentBytes: config.WALSegmentBytes, Image: snapshot,
	})
	if err := errors.Join(seedErr, snapshot.Close(), store.Close()); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return saveIdentity(directory, who)
}
