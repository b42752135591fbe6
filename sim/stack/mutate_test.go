//go:build mutation

package stack

import (
	"flag"
	"testing"

	"github.com/lockstepdb/lockstep/internal/mutation"
)

var mutationSeeds = flag.Int("mutation-seeds", 60, "seeds per cluster size TestStorageMutationsAreCaught may try per mutation (at least; see seedBudgets)")

// seedBudgets raise -mutation-seeds for the mutations that need a rarer
// schedule: wal-skip-checksum needs the power to fail during an fsync and
// tear a record that spans sectors (seed 137 of 5 nodes, 274 runs, when it
// was added; seeds 5 and 84 in later runs, since goroutines interleave
// differently from run to run: 600 leaves a miss at odds below one in a
// thousand).
var seedBudgets = map[mutation.Name]int{mutation.WALSkipChecksum: 600}

// TestStorageMutationsAreCaught switches on, one at a time, a deliberate
// bug in the runtime's storage (internal/mutation, compiled only with
// -tags mutation) and runs the whole-stack simulator, in virtual time, on
// seeds 1, 2, ... (a 3- and a 5-node cluster each) until one breaks a
// property. Every mutation must be caught within -mutation-seeds seeds.
//
//	go test -tags mutation ./sim/stack -run TestStorageMutationsAreCaught -v -mutation-seeds 200
func TestStorageMutationsAreCaught(t *testing.T) {
	for _, name := range mutation.All {
		t.Run(string(name), func(t *testing.T) {
			if err := mutation.Set(name); err != nil {
				t.Fatal(err)
			}
			defer mutation.Set("")
			runs, budget := 0, max(*mutationSeeds, seedBudgets[name])
			for seed := uint64(1); seed <= uint64(budget); seed++ {
				for _, nodes := range []int{3, 5} {
					runs++
					result, _ := runInBubble(t, Options{Seed: seed, Nodes: nodes})
					if result.Failed() {
						check := "linearizability"
						if result.Violation != nil {
							check = result.Violation.String()
						}
						t.Logf("%s: caught by seed %d with %d nodes (%d runs): %s", name, seed, nodes, runs, check)
						return
					}
				}
			}
			t.Fatalf("%s: no run of seeds 1-%d (3 and 5 nodes) broke a property", name, budget)
		})
	}
}
