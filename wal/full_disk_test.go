package wal

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// TestFullDiskFailsTheLogAndNamesTheCause fills the disk under a running
// log: creating or sizing a segment fails with ENOSPC. The first Save that
// needs a new segment fails with ErrLogFailed wrapping ENOSPC (the cause
// is named), later writes fail too even once space returns (the log stops
// rather than guess what is durable), nothing unacknowledged is visible,
// and a reopened log holds every acknowledged entry and takes writes.
func TestFullDiskFailsTheLogAndNamesTheCause(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	log := openLog(t, fileSystem, smallSegments)
	mustSave(t, log, raft.HardState{Term: 1}, makeEntries(1, 1, 1))
	fileSystem.SetFault(func(operation vfs.Operation, name string) error {
		if operation == vfs.OperationCreate || operation == vfs.OperationTruncate {
			return fmt.Errorf("injected: %w", syscall.ENOSPC)
		}
		return nil
	})
	acknowledged := uint64(1)
	var err error
	for index := uint64(2); index < 1000; index++ {
		if err = log.Save(raft.HardState{Term: 1}, makeEntries(index, index, 1)); err != nil {
			break
		}
		acknowledged = index
	}
	if !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Save on a full disk: %v, want ErrLogFailed wrapping ENOSPC", err)
	}
	fileSystem.SetFault(nil)
	if err := log.Save(raft.HardState{Term: 1}, makeEntries(acknowledged+1, acknowledged+1, 1)); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("Save once space returned: %v, want ErrLogFailed until reopened", err)
	}
	if got := log.LastIndex(); got != acknowledged {
		t.Fatalf("LastIndex %d, want the %d acknowledged", got, acknowledged)
	}
	if err := log.Close(); err != nil && !errors.Is(err, ErrLogFailed) {
		t.Fatal(err)
	}
	fileSystem.Crash(nil)
	reopened := openLog(t, fileSystem, smallSegments)
	if got := allEntries(t, reopened); !sameEntries(got, makeEntries(1, acknowledged, 1)) {
		t.Fatalf("after reopening: %d entries, want the %d acknowledged", len(got), acknowledged)
	}
	mustSave(t, reopened, raft.HardState{Term: 1}, makeEntries(acknowledged+1, acknowledged+1, 1))
}
