package snap_test

import (
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
	"github.com/lockstepdb/lockstep/vfs"
)

// Save a snapshot durably and load the newest one back, as a node does at
// start.
func ExampleStore() {
	store, err := snap.Open(vfs.NewMemFS(), "/data/snap", snap.Options{Retain: 2})
	if err != nil {
		panic(err)
	}
	snapshot := raft.Snapshot{
		Metadata: raft.SnapshotMetadata{Index: 42, Term: 3, Membership: raft.Membership{Voters: []raft.NodeID{1, 2, 3}}},
		Data:     []byte("counter=7"),
	}
	if err := store.Save(snapshot); err != nil {
		panic(err)
	}
	loaded, err := store.Load()
	if err != nil {
		panic(err)
	}
	fmt.Println(loaded.Metadata.Index, loaded.Metadata.Term, loaded.Metadata.Membership.Voters, string(loaded.Data))
	// Output: 42 3 [1 2 3] counter=7
}
