package stack

import (
	"fmt"
	"maps"
	"slices"

	"github.com/lockstepdb/lockstep/sim"
)

// checkLinearizable checks the client history against a register per key
// (sim.CheckRegisters, with no time limit); a history that is not
// linearizable is drawn into directory, and its path returned.
func (r *recorder) checkLinearizable(seed uint64, directory string) (ok bool, path string, err error) {
	r.mu.Lock()
	puts := make([]sim.RegisterPut, 0, len(r.writes))
	for _, command := range slices.Sorted(maps.Keys(r.writes)) { // deterministic order
		puts = append(puts, r.writes[command].RegisterPut)
	}
	reads := slices.Clone(r.reads)
	r.mu.Unlock()
	return sim.CheckRegisters(puts, reads, 0, directory, fmt.Sprintf("lockstep-sim-stack-seed-%d.html", seed))
}
