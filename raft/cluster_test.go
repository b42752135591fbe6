package raft

import (
	"fmt"
	"slices"
	"testing"
)

func TestClusterSizesElectAndCommit(t *testing.T) {
	forBothPersistenceModes(t, func(t *testing.T, mode persistence) {
		for _, size := range []int{1, 3, 5, 7} {
			t.Run(fmt.Sprint(size), func(t *testing.T) {
				cluster := newTestCluster(t, mode, size, nil)
				cluster.elect(1)
				for i := 0; i < 5; i++ {
					cluster.propose(1, fmt.Sprintf("command-%d", i))
				}
				cluster.tickAll(2) // heartbeats carry the final commit index
				want := []string{"command-0", "command-1", "command-2", "command-3", "command-4"}
				for _, id := range cluster.ids {
					if got := cluster.appliedCommands(id); !slices.Equal(got, want) {
						t.Errorf("node %d applied %v, want %v", id, got, want)
					}
				}
			})
		}
	})
}
