// Package machine is the contract between lockstep's runtime and the
// replicated state machine it drives: the committed Entry the runtime
// hands over, the Result the machine returns for it, and the StateMachine
// and DurableStateMachine interfaces. It is a leaf: it imports nothing of
// lockstep, so a state machine (kv's store, an embedder's) depends on this
// contract without pulling in the runtime's log, snapshots and transport.
// Package node re-exports these names as aliases for embedders.
package machine

import "io"

// Entry is a committed command handed to the state machine.
type Entry struct {
	// Index and Term place the entry in the replicated log. Indexes only
	// grow, but may skip: log entries that carry no command (a leader's
	// empty entry, membership changes, the runtime's own records) are not
	// handed to the state machine.
	Index uint64
	Term  uint64
	// Command is the command as proposed, byte for byte.
	Command []byte
}

// Result is what the state machine returns for one command; the runtime
// hands it to the caller that proposed the command on this node.
type Result any

// StateMachine is the application's replicated state.
//
// Threading contract: Apply, Snapshot and Restore are never called
// concurrently with each other, and each call happens after the one
// before it. Apply and Snapshot run on the runtime's applier goroutine,
// which trails the consensus loop: a slow Apply delays answers and reads,
// not heartbeats, until the runtime's bound on the work waiting for it is
// reached, or a snapshot from the leader must replace the state. Restore
// runs at start, or on the loop once the applier has finished everything
// handed to it. Snapshot is called between two Apply calls; the image it
// returns must be the state as of that call, exactly the entries applied
// so far. The runtime reads and closes the image on another goroutine,
// while later Apply calls go on, so the reader must not see them: return
// a copy, or a reader over a copy-on-write view (kv reads a Pebble
// snapshot).
type StateMachine interface {
	// Apply applies committed entries, in log order, and returns one
	// result per entry. It must be deterministic: every node applies the
	// same entries and must reach the same state.
	Apply(entries []Entry) []Result
	// Snapshot returns an image of the state that Restore can rebuild it
	// from.
	Snapshot() (io.ReadCloser, error)
	// Restore replaces the state with an image made by Snapshot (on this
	// node or another one): on start, and when the leader installs a
	// snapshot on a node that fell behind. If it fails, the state must be
	// as it was: a restore refused for want of disk space (an error that
	// wraps syscall.ENOSPC) is tried again with the same image once space
	// returns, when the node runs with AsyncPersistence.
	Restore(image io.Reader) error
}

// DurableStateMachine is a StateMachine that keeps its state on disk
// itself, atomically with the index of the last entry it applied (kv's
// Pebble store, for example). On start the runtime asks for AppliedIndex:
// it restores the latest snapshot only if the machine is behind it, and
// never hands the machine an entry at or below AppliedIndex again, so a
// restart replays the log only from where the machine left off.
//
// The machine's on-disk state may lag what it applied (it may buffer
// writes), but Snapshot must make it durable up to the entries it has
// applied: the runtime compacts the log right after Snapshot returns, so
// entries the machine had not made durable would be gone.
//
// Since the machine keeps its state, the runtime's snapshots of it hold no
// image by default (node.Config.KeepSnapshotImages): at each snapshot it
// calls Snapshot, for the durability above, closes the image unread, and
// asks AppliedIndex what the machine now holds. When a follower needs an
// image, the runtime takes a snapshot with one, as it would for any
// machine.
type DurableStateMachine interface {
	StateMachine
	// AppliedIndex returns the index of the last entry whose effects the
	// machine holds: at start, the last whose effects are durable; right
	// after Snapshot, the last applied (which Snapshot made durable).
	// Called at start, and on the applier's goroutine right after
	// Snapshot.
	AppliedIndex() uint64
}
