package node

import (
	"errors"
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
	"github.com/lockstepdb/lockstep/wal"
)

// restore brings storage and the state machine to the latest snapshot.
func (n *Node) restore() error {
	latest, found, continues, err := snapshotAheadOfLog(n.snapshots, n.storage)
	if err != nil {
		return fmt.Errorf("node %v: %w", n.config.ID, err)
	}
	if found {
		// The snapshot file was saved but the log not yet compacted to it,
		// or not yet replaced by it, when the node stopped: finish the job.
		if continues {
			err = n.storage.Compact(latest)
		} else {
			err = n.storage.ApplySnapshot(latest)
			if err == nil {
				err = n.raiseTermTo(latest.Metadata.Term)
			}
		}
		if err != nil {
			return fmt.Errorf("node %v: catch the log up with snapshot %d: %w", n.config.ID, latest.Metadata.Index, err)
		}
	}
	// The log's snapshot is read from its file as a stream, never whole.
	metadata := n.storage.Log().SnapshotMetadata()
	if durable, ok := n.machine.(DurableStateMachine); ok {
		n.machineApplied = durable.AppliedIndex()
	}
	if metadata.Index == 0 {
		for id, address := range n.config.Peers {
			n.addresses[id] = address
		}
		return nil
	}
	// If the machine's own state is newer than the snapshot, keep it, take
	// only the address book, and replay the log from the snapshot for the
	// runtime's records (machine entries up to machineApplied are skipped
	// in apply). A snapshot without an image relies on that: the machine
	// must hold what it held when the snapshot was taken.
	read := snapshotFileRead{restoreInto: n.machine, alreadyVerified: sameSnapshot(metadata, latest.Metadata)}
	if _, durable := n.machine.(DurableStateMachine); durable {
		read.onlyIfBehind, read.machineApplied = true, n.machineApplied
	}
	header, err := n.readSnapshotFile(metadata, read)
	if err != nil {
		return err
	}
	n.addresses, n.promotions = header.book, header.promotions
	n.applied = metadata.Index
	n.lastSnapshot = metadata.Index
	n.previousSnapshot = metadata
	if !header.imageKept {
		n.imageSnapshot = metadata
	}
	return nil
}

// snapshotAheadOfLog returns the newest snapshot file that verifies (its
// metadata only, read through by streaming; zero if there is none), whether
// it is newer than the log's compaction point (found), as a crash leaves it
// between saving a snapshot and compacting or replacing the log, and
// whether the log
// continues it: the log keeps its entries after the snapshot only if it
// holds the snapshot's last entry (same index and term); otherwise the
// snapshot came from a leader and replaces the log, whose entries from that
// index on were never committed (Raft's Log Matching). Start finishes the
// job (restore); ReplayLog reads through it.
func snapshotAheadOfLog(snapshots *snap.Store, storage *wal.Storage) (latest raft.Snapshot, found, continues bool, err error) {
	metadata, err := snapshots.LoadMetadata()
	if errors.Is(err, snap.ErrNoSnapshot) {
		return raft.Snapshot{}, false, false, nil
	}
	if err != nil {
		return raft.Snapshot{}, false, false, fmt.Errorf("load snapshot: %w", err)
	}
	// Metadata only: the log keeps no snapshot data (its loader reads the
	// file when needed), and the image is streamed from the file.
	latest = raft.Snapshot{Metadata: metadata}
	if latest.Metadata.Index <= storage.Log().SnapshotMetadata().Index {
		return latest, false, false, nil
	}
	// Term reads the log's in-memory index: its only errors are
	// ErrCompacted and ErrUnavailable, both meaning "not held".
	last, _ := storage.LastIndex()
	term, termErr := storage.Term(latest.Metadata.Index)
	continues = latest.Metadata.Index <= last && termErr == nil && term == latest.Metadata.Term
	return latest, true, continues, nil
}

// sameSnapshot says whether two snapshot metadata name the same snapshot:
// snapshotAheadOfLog's latest was verified by reading its file through, so
// a start that then reads the log's snapshot need not verify it again.
func sameSnapshot(a, b raft.SnapshotMetadata) bool {
	return a.Index != 0 && a.Index == b.Index && a.Term == b.Term
}

// raiseTermTo keeps a node's term at least its log's last term after
// restore replaced the log with a leader's snapshot whose Ready never had
// its hard state saved (the crash that restore finishes). The node cannot
// have voted in that term: a vote is durable before it is sent, and would
// have raised the saved term. So the term is raised with no vote.
func (n *Node) raiseTermTo(term uint64) error {
	state, _, err := n.storage.InitialState()
	if err != nil || state.Term >= term {
		return err
	}
	return n.storage.Save(raft.HardState{Term: term, Commit: state.Commit}, nil)
}
