//go:build mutation

package stack

import (
	"flag"
	"testing"

	"github.com/lockstepdb/lockstep/internal/mutation"
)

// mutationSeeds bounds the seeds per cluster size a mutation may take to
// be caught. In repeated runs (goroutines interleave differently each
// time) snapshot-skip-fsync was caught within 16-125 seeds and
// wal-skip-checksum within 4-91; 500 leaves room for the tail.
var mutationSeeds = flag.Int("mutation-seeds", 500, "seeds per cluster size TestStorageMutationsAreCaught may try per mutation")

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
			runs := 0
			for seed := uint64(1); seed <= uint64(*mutationSeeds); seed++ {
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
			t.Fatalf("%s: no run of seeds 1-%d (3 and 5 nodes) broke a property", name, *mutationSeeds)
		})
	}
}
