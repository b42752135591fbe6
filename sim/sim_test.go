package sim

import (
	"testing"
)

func TestQuickSeeds(t *testing.T) {
	options := Options{Nodes: 3, Steps: 3000, Faults: AllFaults}
	failures := 0
	RunSeeds(options, 1, 200, 0, func(r Result) {
		if r.Violation != nil {
			failures++
			if failures < 5 {
				t.Errorf("seed %d: %v", r.Seed, r.Violation)
			}
		}
	})
}
