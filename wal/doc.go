// Package wal is lockstep's durable write-ahead log: the Raft log entries,
// the hard state (term, vote, commit) and the compaction point, kept in
// checksummed records in preallocated segment files.
//
// Log is the log itself: Open recovers it, Log.Save makes a batch of
// records durable with one fsync, shared by concurrent callers (group
// commit). Storage serves raft.Storage on top of a Log with an in-memory
// cache of recent entries. The on-disk format and the recovery rules are
// described in docs/storage.md; in short, recovery truncates only a torn
// tail that can be the remains of the one write that was in flight at a
// crash, and reports anything else as a *CorruptionError.
package wal
