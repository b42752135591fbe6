package wal

import (
	"math/rand/v2"
	"testing"
)

// TestPositionIndexMatchesSlice drives a positionIndex and a plain slice
// with the same random appends, truncations and prefix drops.
func TestPositionIndexMatchesSlice(t *testing.T) {
	random := rand.New(rand.NewPCG(1, 2))
	var index positionIndex
	var model []entryPosition
	next := int64(0)
	for step := range 20000 {
		switch choice := random.IntN(100); {
		case choice < 80:
			for range 1 + random.IntN(3*positionChunk/2) {
				next++
				index.append(entryPosition{offset: next})
				model = append(model, entryPosition{offset: next})
			}
		case choice < 90 && len(model) > 0:
			n := random.IntN(len(model) + 1)
			index.truncate(n)
			model = model[:n]
		case len(model) > 0:
			n := random.IntN(len(model) + 1)
			index.dropFront(n)
			model = model[n:]
		}
		if index.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, index.len(), len(model))
		}
		for _, i := range []int{0, len(model) / 2, len(model) - 1, random.IntN(len(model) + 1)} {
			if i >= 0 && i < len(model) && *index.at(i) != model[i] {
				t.Fatalf("step %d: at(%d) = %v, want %v", step, i, *index.at(i), model[i])
			}
		}
		if len(index.chunks) > index.len()/positionChunk+2 {
			t.Fatalf("step %d: %d chunks for %d positions", step, len(index.chunks), index.len())
		}
	}
}
