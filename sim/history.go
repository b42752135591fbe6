package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// The client's key-value operations, recorded with their call and return
// times in simulated time, are checked for linearizability against a
// register per key (CheckRegisters).

// history is the client-visible record of a run.
type history struct {
	writes map[string]*RegisterPut // by command
	reads  []RegisterRead
}

func newHistory() history { return history{writes: map[string]*RegisterPut{}} }

// checkTimeout bounds the linearizability check of one seed's history.
const checkTimeout = 20 * time.Second

// checkLinearizable checks the history. On a non-linearizable history (or
// a check that cannot finish in time) it writes porcupine's visualization
// into directory and returns its path.
func (h *history) checkLinearizable(seed uint64, directory string) (ok bool, path string, err error) {
	puts := make([]RegisterPut, 0, len(h.writes))
	for _, command := range slices.Sorted(maps.Keys(h.writes)) { // deterministic order
		puts = append(puts, *h.writes[command])
	}
	return CheckRegisters(puts, h.reads, checkTimeout, directory, fmt.Sprintf("lockstep-sim-seed-%d.html", seed))
}

// parsePut parses a put command "key=value".
func parsePut(data []byte) (key, value string, ok bool) {
	return strings.Cut(string(data), "=")
}
