package node

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
	"github.com/lockstepdb/lockstep/vfs"
	"github.com/lockstepdb/lockstep/wal"
)

// replayBatchBytes bounds the entries read from the log at a time.
const replayBatchBytes = 4 << 20

// ReplayLog applies to machine every command in the log in directory (a
// stopped node's Config.Directory) that machine has not applied, through
// the log's last entry, and returns that entry's index. It is for disaster
// recovery, when a majority is lost and this node's data is to become a new
// cluster (see Seed): it treats the whole log as committed, as the node
// would make it if it won an election, which Raft allows for entries no
// client was told had succeeded. It is what etcd's --force-new-cluster does
// with a survivor's log. Use it on the survivor whose log is the most up to
// date (highest last term, then last index), as an election would. A
// snapshot file newer than the log's compaction point counts, as Start
// counts it.
//
// A durable state machine may trail the log after a crash (its writes are
// made durable separately); ReplayLog closes that gap. If machine is older
// than the node's latest snapshot, it is restored from that snapshot
// first. Runtime records in the log (addresses, promotions, membership)
// are skipped: they describe the old cluster. The node must not be running.
func ReplayLog(directory string, fileSystem vfs.FS, machine DurableStateMachine) (last uint64, err error) {
	if fileSystem == nil {
		fileSystem = vfs.OS
	}
	if names, err := fileSystem.List(filepath.Join(directory, "wal")); err != nil || len(names) == 0 {
		return 0, fmt.Errorf("node: replay: %s holds no log (%v)", directory, err)
	}
	snapshots, err := snap.Open(fileSystem, filepath.Join(directory, "snap"), snap.Options{})
	if err != nil {
		return 0, fmt.Errorf("node: replay: %w", err)
	}
	storage, err := wal.OpenStorage(fileSystem, filepath.Join(directory, "wal"), wal.Options{})
	if err != nil {
		return 0, fmt.Errorf("node: replay: %w", err)
	}
	defer func() { err = errors.Join(err, storage.Close()) }()

	first, _ := storage.FirstIndex()
	last, _ = storage.LastIndex()
	// The newest snapshot is the log's compaction point, or a snapshot
	// file saved after it (a crash between saving a leader's snapshot and
	// installing it in the log, as restore finishes on a normal start).
	newest := storage.Log().SnapshotMetadata()
	latest, found, logContinues, err := snapshotAheadOfLog(snapshots, storage)
	if err != nil {
		return 0, fmt.Errorf("node: replay: %w", err)
	}
	if found {
		newest = latest.Metadata
	} else {
		logContinues = true
	}
	if machine.AppliedIndex() < newest.Index {
		if newest.Index == 0 {
			return 0, fmt.Errorf("node: replay: the log starts at %d, the state machine is at %d, and no snapshot covers the gap", first, machine.AppliedIndex())
		}
		read := snapshotFileRead{restoreInto: machine, onlyIfBehind: true, machineApplied: machine.AppliedIndex(), alreadyVerified: sameSnapshot(newest, latest.Metadata)}
		if _, err := readSnapshotFile(snapshots, newest, read); err != nil {
			return 0, fmt.Errorf("node: replay: %w", err)
		}
	}
	if !logContinues {
		return newest.Index, nil
	}
	for next := max(machine.AppliedIndex()+1, newest.Index+1, first); next <= last; {
		entries, err := storage.Entries(next, last+1, replayBatchBytes)
		if err != nil {
			return 0, fmt.Errorf("node: replay: read entries from %d: %w", next, err)
		}
		if len(entries) == 0 {
			return 0, fmt.Errorf("node: replay: no entry at %d of a log that ends at %d", next, last)
		}
		var commands []Entry
		for _, entry := range entries {
			if entry.Type == raft.EntryNormal && len(entry.Data) > 0 && entry.Data[0] == kindCommand {
				commands = append(commands, Entry{Index: entry.Index, Term: entry.Term, Command: entry.Data[1:]})
			}
		}
		if len(commands) > 0 {
			machine.Apply(commands)
		}
		next = entries[len(entries)-1].Index + 1
	}
	return last, nil
}
