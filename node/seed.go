package node

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
	"github.com/lockstepdb/lockstep/vfs"
	"github.com/lockstepdb/lockstep/wal"
)

// SeedConfig describes the state a new cluster starts from: see Seed.
type SeedConfig struct {
	// Directory is the node's data directory (Config.Directory); it must
	// hold no log and no snapshot yet.
	Directory string
	// FileSystem is where Directory lives. Default vfs.OS.
	FileSystem vfs.FS
	// Peers are the new cluster's voters and their addresses, as in
	// Config.Peers. Every member must be seeded with the same Peers.
	Peers map[raft.NodeID]string
	// Index is the log index the state machine's image stands for: for a
	// DurableStateMachine, its AppliedIndex once restored from Image. The
	// new log continues after it. Never 0.
	Index uint64
	// SegmentBytes is the size of the log's first segment file, as
	// Config.SegmentBytes. Default: the WAL's.
	SegmentBytes int64
	// Image is the state machine's snapshot (what StateMachine.Snapshot
	// writes and Restore reads); it is streamed into the snapshot file and
	// read to its end, not closed.
	Image io.Reader
}

// Seed prepares a data directory for a node that starts a new cluster from
// an existing state, rather than from an empty log: the disaster-recovery
// path, when a backup of the state machine must become a cluster again
// (etcdutl snapshot restore does the same for etcd). It writes a Raft
// snapshot at Index, term 1, whose membership is Peers, and a log that
// starts right after it. Every member of the new cluster is seeded from the
// same image with the same Peers and Index, so they start identical; Start
// with the same Peers (and without Join) then runs them.
//
// The state machine itself is not touched: a DurableStateMachine must hold
// the image (restored beforehand, with AppliedIndex equal to Index), so that
// Start keeps it; any other state machine is restored from the snapshot by
// Start. Seed must not run while a node uses Directory. When it fails, the
// directory may hold a partial snapshot and must be removed before a retry.
func Seed(config SeedConfig) error {
	if config.FileSystem == nil {
		config.FileSystem = vfs.OS
	}
	if config.Index == 0 {
		return errors.New("node: seed: the image's index is 0 (nothing applied): start a new cluster instead")
	}
	if config.Image == nil {
		return errors.New("node: seed: no image")
	}
	voters := make([]raft.NodeID, 0, len(config.Peers))
	for id, address := range config.Peers {
		if id == raft.None {
			return errors.New("node: seed: peer ID 0")
		}
		if address == "" {
			return fmt.Errorf("node: seed: peer %v has no address", id)
		}
		voters = append(voters, id)
	}
	if len(voters) == 0 {
		return errors.New("node: seed: no peers")
	}
	slices.Sort(voters)

	snapshots, err := snap.Open(config.FileSystem, filepath.Join(config.Directory, "snap"), snap.Options{})
	if err != nil {
		return fmt.Errorf("node: seed: %w", err)
	}
	names, err := snapshots.Names()
	if err != nil {
		return fmt.Errorf("node: seed: %w", err)
	}
	if len(names) > 0 {
		return fmt.Errorf("node: seed: %s already holds snapshots %v: seed an empty directory", config.Directory, names)
	}
	storage, err := wal.OpenStorage(config.FileSystem, filepath.Join(config.Directory, "wal"), wal.Options{SnapshotData: snapshots.Data, SegmentSize: config.SegmentBytes})
	if err != nil {
		return fmt.Errorf("node: seed: %w", err)
	}
	state, _, err := storage.InitialState()
	last, _ := storage.LastIndex()
	if err == nil && (last > 0 || !state.IsEmpty()) {
		err = fmt.Errorf("%s already holds a log (last index %d, term %d): seed an empty directory", config.Directory, last, state.Term)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("node: seed: %w", err), storage.Close())
	}

	metadata := raft.SnapshotMetadata{Index: config.Index, Term: 1, Membership: raft.Membership{Voters: voters}}
	// The snapshot's data is the runtime's header (the address book, no
	// pending promotion) then the image, as maybeSnapshot writes it.
	err = snapshots.SaveFrom(metadata, encodeSnapshotHeader(addressBook(config.Peers), nil), config.Image)
	if err == nil {
		// The data is durable in the snapshot file; the log records the
		// metadata only and loads the data from there when asked.
		err = storage.ApplySnapshot(raft.Snapshot{Metadata: metadata})
	}
	if err == nil {
		// Term 1, the snapshot's: no member has voted in it, and the
		// first election moves every member past it.
		err = storage.Save(raft.HardState{Term: 1, Commit: config.Index}, nil)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("node: seed: %w", err), storage.Close())
	}
	return storage.Close()
}
