// Package kv is lockstep's replicated key-value state machine: an MVCC
// store with etcd v3 semantics (one global revision, per-key create and
// mod revisions and versions, transactions, leases, compaction, alarms,
// watches) on Pebble. A *Store is a machine.DurableStateMachine, driven by
// the runtime (package node): the server proposes etcd requests wrapped in
// pb.InternalRaftRequest (checked and encoded by NewCommand), every
// replica applies them in log order with Apply, and reads and watches are
// served from the local store.
//
// # Durability
//
// Pebble's own write-ahead log is off: the Raft log is the write-ahead
// log. Each Apply call writes all its entries and the index of the last
// one into one batch, committed without sync, so Pebble's durable state is
// always a prefix of applied batches with a matching AppliedIndex; on
// restart the runtime replays the log from there. Snapshot flushes
// Pebble before the runtime compacts the log; Close flushes too.
//
// # Layout
//
// The store's directory holds Pebble instances in subdirectories db-NNNNNN
// and a file CURRENT-STORE naming the one in use (see directory.go; Restore
// switches instances atomically). Inside an instance, the first byte of a
// Pebble key names its table:
//
//	M/format, M/applied,        meta: format version, last applied Raft
//	M/revision, M/compacted,    index, current and compacted revisions,
//	M/compact-cursor            position of the physical compaction
//	c <key>                     current table: the latest version of each
//	                            live key (a record, below); a read at the
//	                            current revision is one seek per key
//	h <escaped key> <^main> <^sub>
//	                            history: every version of every key, the
//	                            newest first (revisions inverted), deletions
//	                            as tombstone records; a read at revision R
//	                            seeks to (key, R) and finds the version then
//	e <main> <sub>              event log: the key changed at each revision,
//	                            in revision order, for watchers catching up
//	l <lease ID>                granted leases: TTL and checkpointed
//	                            remaining TTL
//	k <lease ID> <key>          keys attached to each lease
//	a <alarm type> <member>     active alarms
//	m <member ID>               member attributes (name, client URLs)
//	A/auth                      auth store: enabled byte, auth revision
//	U <user name>               users (authpb.User: bcrypt hash, roles)
//	R <role name>               roles (authpb.Role: key permissions)
//
// Revisions and IDs are big-endian (lease IDs with the sign bit flipped,
// so they sort as signed numbers). A key in the history table is escaped
// (0x00 becomes 0x00 0xFF) and terminated by 0x00 0x01, so that all
// versions of a key are adjacent and keys sort as in etcd. A record is a
// flags byte (tombstone), then create revision, mod revision, version and
// lease as varints, then the value. Pebble keeps a value of 256 bytes or
// more in a blob file that the table references (see valueSeparation in
// database.go), so its compactions move the reference, not the value.
//
// # Index of current versions
//
// The applier keeps, in memory, the metadata of live keys' current
// versions (currentIndex: create and mod revision, version, lease, up to
// Options.CurrentIndexKeys keys), written through with every batch. A put
// needs the version it replaces, and when no watcher wants previous
// key-values, the index answers without a read of the current table; a
// change then carries the previous version without its value, which
// publish reads from the history (the key at the revision before) if a
// prev_kv watcher registered meanwhile. Bloom filters remember the keys
// the index evicts, so that it still knows a key it never saw is absent
// (currentIndex.evicted). The index is a cache: the current table stays
// the truth, a store opened with keys starts with an empty, incomplete
// index, and each Pebble instance (a Restore makes a new one) has its own.
//
// # Compaction
//
// Compaction(R) sets the compacted revision at once: reads below it fail
// with ErrGRPCCompacted. The versions no read at or after R can reach (a
// version with a newer one at or below R, or a deletion below R) are
// removed afterwards, 64 event log entries after each applied command and
// 1,024 after a continuation (a Compaction at exactly the compacted
// revision, which a leader proposes while work is pending, see
// Store.ContinueCompaction), following the event log from a cursor; the
// event log itself is cut below R. Removals are Pebble range deletions
// (a key's old versions are adjacent), so Pebble knows what they cover
// (Size) and drops whole files under them; when a pass finishes and blob
// files exist, the store has Pebble rewrite the history table, so that the
// blob files lose their references to the removed versions. Defragment has
// Pebble rewrite the rest, with values inline. The work per command depends only on the log, so every replica's
// logical state is the same function of the entries it applied.
//
// # Watches
//
// Apply publishes its events to the synced watchers without blocking. A
// watcher whose buffer is full, one that starts in the past, and every
// watcher after a Restore, catch up from the event log in a goroutine of
// their own, then rejoin the synced set under the same lock Apply
// publishes with, so no event is lost or repeated.
package kv
