package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/lockstepdb/lockstep/kv"
	"github.com/lockstepdb/lockstep/node"
)

// OpenOfflineBackup returns a backup stream (kv.NewBackupStream) of a
// stopped member's data directory, for lockstep snapshot save --data-dir,
// the first step of disaster recovery when a majority is lost: the member's
// store with its whole log replayed into it (node.ReplayLog). A crash can
// leave the store behind the log (the store is made durable by flushes, the
// log by fsyncs), and the log's last entries may be committed without this
// member knowing it; replaying the whole log keeps them, as etcd's
// --force-new-cluster does. Entries no quorum held may be kept too, which
// Raft allows: no client was told they succeeded.
//
// The member's store is not changed: the replay runs on a copy of it, made
// beside the data directory and removed when the stream is closed, so the
// member can still rejoin its own cluster afterwards (where the leader may
// overwrite its uncommitted entries). Its log is only opened, as a start
// would open it. The directory must not be in use: the store's lock
// refuses a running member.
func OpenOfflineBackup(dataDirectory string, logger *slog.Logger) (io.ReadCloser, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := refuseInterruptedRestore(dataDirectory); err != nil {
		return nil, err
	}
	who, err := loadIdentity(dataDirectory)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("server: %s is not a member's data directory (no %s)", dataDirectory, identityFile)
	}
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dataDirectory)), ".lockstep-backup-")
	if err != nil {
		return nil, fmt.Errorf("server: a scratch directory for the replay: %w", err)
	}
	copied, err := copyStore(filepath.Join(dataDirectory, "kv"), filepath.Join(scratch, "kv"), logger)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(scratch))
	}
	discard := func(err error) (io.ReadCloser, error) {
		return nil, errors.Join(err, copied.Close(), os.RemoveAll(scratch))
	}
	last, err := node.ReplayLog(filepath.Join(dataDirectory, "raft"), nil, copied)
	if err != nil {
		return discard(fmt.Errorf("server: %w", err))
	}
	logger.Info("replayed the log into a copy of the store", "member", who.Name, "last_index", last, "applied", copied.AppliedIndex())
	if copied.AppliedIndex() == 0 {
		return discard(fmt.Errorf("server: the member in %s has applied nothing: there is nothing to back up", dataDirectory))
	}
	image, err := copied.Backup()
	if err != nil {
		return discard(err)
	}
	return &offlineBackup{ReadCloser: kv.NewBackupStream(image), store: copied, scratch: scratch}, nil
}

// copyStore opens the member's store (refused while the member runs: the
// store is locked), and restores its image into a new store at target.
func copyStore(source, target string, logger *slog.Logger) (*kv.Store, error) {
	if _, err := os.Stat(source); err != nil {
		return nil, fmt.Errorf("server: %s holds no key-value store: %w", filepath.Dir(source), err)
	}
	original, err := kv.Open(source, kv.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("server: open %s (is the member still running?): %w", source, err)
	}
	image, err := original.Backup()
	if err != nil {
		return nil, errors.Join(err, original.Close())
	}
	copied, err := kv.Open(target, kv.Options{Logger: logger})
	if err == nil {
		err = copied.Restore(image)
		if err != nil {
			err = errors.Join(err, copied.Close())
		}
	}
	if err := errors.Join(err, image.Close(), original.Close()); err != nil {
		return nil, fmt.Errorf("server: copy the store: %w", err)
	}
	return copied, nil
}

// offlineBackup is a backup stream of a scratch copy of a store; closing
// it closes the copy and removes it.
type offlineBackup struct {
	io.ReadCloser
	store   *kv.Store
	scratch string
}

func (b *offlineBackup) Close() error {
	return errors.Join(b.ReadCloser.Close(), b.store.Close(), os.RemoveAll(b.scratch))
}
