//go:build mutation

// Command mutate is the simulator's mutation harness: it switches on, one
// at a time, a deliberate classic Raft bug in the core (raft.Mutations,
// compiled only with -tags mutation, never into a shipped binary), runs the
// randomized simulator over a range of seeds, and reports the first seed
// that caught the bug and which check caught it. A mutation no seed
// catches shows where the simulator is too weak.
//
//	go run -tags mutation ./sim/mutate                          # every mutation, 2,000 seeds x 3,000 steps
//	go run -tags mutation ./sim/mutate -mutations commit-old-term -seeds 500 -async
//	go run -tags mutation ./sim/mutate -mutations commit-old-term -seed 17 -trace
package main

import (
	"sync"
	"sync/atomic"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/sim"
)

// catch is what a hunt for one mutation found.
type catch struct {
	mutation raft.MutationInfo
	// seed is the smallest seed that caught the mutation; 0 if none did.
	seed uint64
	// seedsRun is how many seeds it took: seed - first + 1, or every seed
	// of the range when none caught it.
	seedsRun int
	// check names the property that failed: a violated rule, or
	// "linearizability" for a non-linearizable client history.
	check  string
	detail string
}

func (c catch) caught() bool { return c.seed != 0 }

// hunt runs options over seeds first, first+1, ... (count of them) on
// workers goroutines with mutation switched on, and returns the smallest
// seed whose run broke a property. Seeds are taken in increasing order and
// no seed past a catch is started, so a hunt costs about as many runs as
// the catch needs plus one per worker.
func hunt(mutation raft.MutationInfo, options sim.Options, first uint64, count, workers int) catch {
	if err := raft.SetMutation(mutation.Name); err != nil {
		panic(err) // the name came from raft.Mutations
	}
	defer raft.SetMutation("")
	var (
		next  atomic.Uint64
		mu    sync.Mutex
		best  = catch{mutation: mutation, seedsRun: count}
		group sync.WaitGroup
	)
	next.Store(first)
	last := first + uint64(count) - 1
	for range max(workers, 1) {
		group.Go(func() {
			for {
				seed := next.Add(1) - 1
				mu.Lock()
				stop := seed > last || (best.caught() && seed > best.seed)
				mu.Unlock()
				if stop {
					return
				}
				result := options.RunSeed(seed)
				check, detail := failure(result)
				if check == "" {
					continue
				}
				mu.Lock()
				if !best.caught() || seed < best.seed {
					best.seed, best.seedsRun, best.check, best.detail = seed, int(seed-first)+1, check, detail
				}
				mu.Unlock()
			}
		})
	}
	group.Wait()
	return best
}

// failure names the property a run broke, if any: its violation, else a
// non-linearizable history.
func failure(result sim.Result) (check, detail string) {
	if result.Violation != nil {
		return result.Violation.Rule, result.Violation.String()
	}
	if !result.Linearizable {
		return "linearizability", "history not linearizable: " + result.HistoryFile
	}
	return "", ""
}
