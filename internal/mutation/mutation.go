// Package mutation switches on deliberate bugs in the runtime's storage
// (wal/, snap/) for the whole-stack simulator's mutation harness
// (sim/stack, go test -tags mutation). In a normal build On always reports
// false, so the compiler drops every mutated branch: none of these bugs is
// in a shipped binary. The core's own mutations live in package raft
// (raft.Mutations), which stays free of imports.
package mutation

// Name names one deliberate storage bug.
type Name string

// The storage mutations.
const (
	// WALSkipFsync acknowledges a WAL batch without its fsync.
	WALSkipFsync Name = "wal-skip-fsync"
	// SnapshotSkipFsync installs a received snapshot before its file is
	// durable (its fsync skipped).
	SnapshotSkipFsync Name = "snapshot-skip-fsync"
	// WALSkipChecksum replays a log record without checking its
	// checksum, so that a torn write of the unsynced tail (some sectors
	// new, some old) comes back after a crash as a record with a valid
	// header and a damaged payload.
	WALSkipChecksum Name = "wal-skip-checksum"
	// WALFullDiskFatal fails the log for good when its disk has no space
	// for the next segment, where it should only refuse the write and
	// stay usable until space returns (wal.ErrNoSpace).
	WALFullDiskFatal Name = "wal-full-disk-fatal"
	// WALDropMembership leaves membership entries (raft.EntryMembership)
	// out of the records a WAL batch writes, while the batch is still
	// acknowledged: a configuration change silently missing from the
	// durable log.
	WALDropMembership Name = "wal-drop-membership"
)

// All lists the storage mutations, in a fixed order.
var All = []Name{WALSkipFsync, SnapshotSkipFsync, WALSkipChecksum, WALDropMembership, WALFullDiskFatal}
