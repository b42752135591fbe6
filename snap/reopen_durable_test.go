package snap

import (
	"errors"
	"testing"

	"github.com/lockstepdb/lockstep/vfs"
)

// TestReopenMakesTheSnapshotsItShowsDurable: a Save whose directory fsync
// failed left the snapshot under its name, readable but not durable; the
// next process (no power failure in between) loads it and builds on it
// (the node compacts its log to it). A later power failure must not take
// it away.
func TestReopenMakesTheSnapshotsItShowsDurable(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	store := openStore(t, fileSystem, 2)
	if err := store.Save(makeSnapshot(10)); err != nil {
		t.Fatal(err)
	}
	fileSystem.SetFault(func(operation vfs.Operation, _ string) error {
		if operation == vfs.OperationSyncDir {
			return errors.New("EIO")
		}
		return nil
	})
	if err := store.Save(makeSnapshot(20)); err == nil {
		t.Fatal("Save with a failing directory fsync succeeded")
	}
	fileSystem.SetFault(nil)
	reopened := openStore(t, fileSystem, 2)
	if got, err := reopened.Load(); err != nil || !sameSnapshot(got, makeSnapshot(20)) {
		t.Fatalf("Load after the restart = %+v, %v, want snapshot 20 (readable)", got.Metadata, err)
	}
	fileSystem.Crash(nil)
	if got, err := openStore(t, fileSystem, 2).Load(); err != nil || !sameSnapshot(got, makeSnapshot(20)) {
		t.Fatalf("Load after a power failure = %+v, %v, want snapshot 20, which the restarted store showed", got.Metadata, err)
	}
}
