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
// Raft allows: no client was told they succeeded. Closing the stream
// closes the store, which flushes it, so the directory holds the replayed
// state afterwards.
//
// The directory must not be in use: the store's lock refuses a running
// member.
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
	storeDirectory := filepath.Join(dataDirectory, "kv")
	if _, err := os.Stat(storeDirectory); err != nil {
		return nil, fmt.Errorf("server: %s holds no key-value store: %w", dataDirectory, err)
	}
	store, err := kv.Open(storeDirectory, kv.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("server: open %s (is the member still running?): %w", storeDirectory, err)
	}
	last, err := node.ReplayLog(filepath.Join(dataDirectory, "raft"), nil, store)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("server: %w", err), store.Close())
	}
	logger.Info("replayed the log into the store", "member", who.Name, "last_index", last, "applied", store.AppliedIndex())
	if store.AppliedIndex() == 0 {
		return nil, errors.Join(fmt.Errorf("server: the member in %s has applied nothing: there is nothing to back up", dataDirectory), store.Close())
	}
	image, err := store.Backup()
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return &offlineBackup{ReadCloser: kv.NewBackupStream(image), store: store}, nil
}

// offlineBackup is a backup stream whose Close also closes the store.
type offlineBackup struct {
	io.ReadCloser
	store *kv.Store
}

func (b *offlineBackup) Close() error { return errors.Join(b.ReadCloser.Close(), b.store.Close()) }
