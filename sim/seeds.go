package sim

import (
	"runtime"
	"sync"
)

// RunSeeds runs run(seed) for the seeds first, first+1, ...,
// first+count-1 on workers goroutines (GOMAXPROCS if 0 or less), and calls
// report with each result in seed order, from the calling goroutine. Both
// simulators' sweeps use it, with their options' RunSeed:
//
//	sim.RunSeeds(1, 500, 0, options.RunSeed, report)
//	sim.RunSeeds(1, 20, 0, stackOptions.RunSeed, reportStack)
func RunSeeds[R any](first uint64, count, workers int, run func(seed uint64) R, report func(R)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	results := make([]chan R, count)
	for i := range results {
		results[i] = make(chan R, 1)
	}
	next := make(chan int)
	var group sync.WaitGroup
	for range workers {
		group.Go(func() {
			for i := range next {
				results[i] <- run(first + uint64(i))
			}
		})
	}
	go func() {
		defer close(next)
		for i := range count {
			next <- i
		}
	}()
	for i := range count {
		report(<-results[i])
	}
	group.Wait()
}
