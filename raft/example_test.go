package raft_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/lockstepdb/lockstep/raft"
)

// Example drives a single-node cluster by hand, the way a runtime does:
// feed inputs, then for each Ready persist, send, apply and advance.
func Example() {
	storage := raft.NewMemoryStorage()
	core, err := raft.NewCore(raft.Config{
		ID:                1,
		Storage:           storage,
		Random:            rand.NewPCG(1, 2),
		InitialMembership: raft.Membership{Voters: []raft.NodeID{1}},
	})
	if err != nil {
		panic(err)
	}
	handleReadies := func() {
		for core.HasReady() {
			ready := core.Ready()
			// 1. SendNow may leave at once (nothing to send alone).
			// 2. Persist: entries first, then the hard state.
			if err := storage.Append(ready.Entries); err != nil {
				panic(err)
			}
			if !ready.HardState.IsEmpty() {
				storage.SetHardState(ready.HardState)
			}
			// 3. SendAfterPersist would leave now.
			// 4. Apply committed entries in order.
			for _, entry := range ready.CommittedEntries {
				if len(entry.Data) > 0 {
					fmt.Printf("applied %q at index %d\n", entry.Data, entry.Index)
				}
			}
			core.Advance(ready)
		}
	}
	// Tick until the election timeout fires and the node elects itself.
	for core.Summary().Role != raft.RoleLeader {
		core.Tick()
		handleReadies()
	}
	index, term, err := core.Propose([]byte("hello"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("proposed at index %d in term %d\n", index, term)
	handleReadies()
	// Output:
	// proposed at index 2 in term 1
	// applied "hello" at index 2
}

// ExampleNotLeaderError shows the typed error a follower returns.
func ExampleNotLeaderError() {
	core, err := raft.NewCore(raft.Config{
		ID:                2,
		Storage:           raft.NewMemoryStorage(),
		Random:            rand.NewPCG(3, 4),
		InitialMembership: raft.Membership{Voters: []raft.NodeID{1, 2, 3}},
	})
	if err != nil {
		panic(err)
	}
	_, _, err = core.Propose([]byte("x"))
	fmt.Println(err)
	// Output: raft: not the leader; no leader known in term 0
}
