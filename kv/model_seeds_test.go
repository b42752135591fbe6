package kv

import (
	"os"
	"strconv"
	"testing"
)

// modelSeeds returns the seeds of the randomized model test: 3 by
// default; LOCKSTEP_KV_MODEL_SEEDS=N runs seeds 1..N for a longer soak.
func modelSeeds(t *testing.T) []uint64 {
	count := uint64(3)
	if text := os.Getenv("LOCKSTEP_KV_MODEL_SEEDS"); text != "" {
		parsed, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			t.Fatalf("LOCKSTEP_KV_MODEL_SEEDS=%q: %v", text, err)
		}
		count = parsed
	}
	seeds := make([]uint64, count)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds
}
