package sim

import (
	"slices"
	"testing"
)

// RunSeeds runs every seed of the range once and reports in seed order,
// however the workers finish.
func TestRunSeedsReportsInSeedOrder(t *testing.T) {
	for _, workers := range []int{0, 1, 3, 20} {
		var reported []uint64
		RunSeeds(5, 10, workers, func(seed uint64) uint64 { return seed * seed }, func(result uint64) {
			reported = append(reported, result)
		})
		var want []uint64
		for seed := uint64(5); seed < 15; seed++ {
			want = append(want, seed*seed)
		}
		if !slices.Equal(reported, want) {
			t.Errorf("%d workers: reported %v, want %v", workers, reported, want)
		}
	}
}

// With a worker per seed, the first seed finishes last, and is still
// reported first.
func TestRunSeedsWaitsForTheEarliestSeed(t *testing.T) {
	lastDone := make(chan struct{})
	var reported []uint64
	RunSeeds(1, 4, 4, func(seed uint64) uint64 {
		switch seed {
		case 1:
			<-lastDone
		case 4:
			close(lastDone)
		}
		return seed
	}, func(result uint64) { reported = append(reported, result) })
	if !slices.Equal(reported, []uint64{1, 2, 3, 4}) {
		t.Fatalf("reported %v", reported)
	}
}
