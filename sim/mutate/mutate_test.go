//go:build mutation

package main

import (
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/sim"
)

// fastCatches are mutations the randomized simulator catches within a few
// dozen seeds, synchronous or not (docs/simulator.md has the full table), with a budget of
// seeds well above that. CI runs them with go test -tags mutation: a
// change to the simulator that stops catching one of them fails here.
var fastCatches = []struct {
	name  string
	seeds int
}{
	{"vote-ignores-log", 40},
	{"keep-leading-on-higher-term", 40},
	{"commit-with-half", 40},
	{"heartbeat-commit-uncapped", 60},
	{"keep-conflicting-entries", 40},
	{"apply-uncommitted", 40},
	{"snapshot-installs-stale", 60},
	{"membership-not-on-append", 80},
	{"read-before-term-commit", 40},
	{"transfer-to-lagging", 60},
	{"commit-old-term", 80},
	{"vote-during-lease", 40},
}

func TestMutationsAreCaught(t *testing.T) {
	all := raft.Mutations()
	if len(all) < 20 {
		t.Fatalf("%d mutations, want at least 20", len(all))
	}
	options := sim.Options{Nodes: 3, Steps: 3000, Faults: sim.AllFaults, HistoryDirectory: t.TempDir()}
	for _, mutation := range fastCatches {
		t.Run(mutation.name, func(t *testing.T) {
			chosen, err := chooseMutations(mutation.name)
			if err != nil {
				t.Fatal(err)
			}
			found := hunt(chosen[0], options, 1, mutation.seeds, 0)
			if !found.caught() {
				t.Fatalf("%s: no seed of %d broke a property", mutation.name, mutation.seeds)
			}
			t.Logf("%s: caught by seed %d (%s)", mutation.name, found.seed, found.check)
		})
	}
}

// TestUnmutatedCoreIsClean runs the same seeds with no mutation switched
// on: the catches above are the mutations', not the simulator's.
func TestUnmutatedCoreIsClean(t *testing.T) {
	if err := raft.SetMutation(""); err != nil {
		t.Fatal(err)
	}
	options := sim.Options{Nodes: 3, Steps: 3000, Faults: sim.AllFaults, HistoryDirectory: t.TempDir()}
	sim.RunSeeds(1, 80, 0, options.RunSeed, func(result sim.Result) {
		if check, detail := failure(result); check != "" {
			t.Errorf("seed %d without a mutation: %s: %s", result.Seed, check, detail)
		}
	})
}

func TestUnknownMutationIsRefused(t *testing.T) {
	if err := raft.SetMutation("no-such-bug"); err == nil {
		t.Fatal("SetMutation accepted an unknown name")
	}
	if _, err := chooseMutations("commit-old-term,no-such-bug"); err == nil {
		t.Fatal("chooseMutations accepted an unknown name")
	}
}
