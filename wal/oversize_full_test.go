package wal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// TestOversizeBatchOnAFullDiskIsRetryable: a batch larger than a segment
// goes whole into the next (prepared) segment and grows its file beyond
// the preallocated zeros. On a full disk that growth must be refused as
// ErrNoSpace (nothing written, the log usable), as a segment preparation
// is, not fail the log (sim/stack seed 1439, 5 nodes, 150 operations, 6
// clients: 'node 3 stopped on a full disk' under AsyncPersistence).
func TestOversizeBatchOnAFullDiskIsRetryable(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	options := smallSegments
	options.inlinePreparation = true
	log := openLog(t, fileSystem, options)
	// Half a segment: the next one is prepared (zero-filled) at once.
	for index := uint64(1); index <= 5; index++ {
		mustSave(t, log, raft.HardState{Term: 1}, []raft.Entry{{Index: index, Term: 1, Data: bytes.Repeat([]byte{1}, 100)}})
	}
	fileSystem.SetCapacity(fileSystem.Used()) // full: no file may grow
	next := log.LastIndex() + 1
	big := []raft.Entry{{Index: next, Term: 1, Data: bytes.Repeat([]byte{2}, 2*int(options.SegmentSize))}}
	err := log.Save(raft.HardState{}, big)
	if !errors.Is(err, ErrNoSpace) || errors.Is(err, ErrLogFailed) {
		t.Fatalf("oversize Save on a full disk: %v, want ErrNoSpace (retryable)", err)
	}
	fileSystem.SetCapacity(0)
	mustSave(t, log, raft.HardState{}, big)
}
