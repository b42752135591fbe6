package stack

import (
	"strings"
	"sync"
	"testing"
	"testing/synctest"
)

// runInBubble runs one seed in a synctest bubble, collecting its trace,
// and fails the test with the trace if a property broke.
func runInBubble(t *testing.T, options Options) Result {
	t.Helper()
	var (
		mu    sync.Mutex
		trace []string
	)
	options.Trace = func(line string) {
		mu.Lock()
		defer mu.Unlock()
		trace = append(trace, line)
	}
	options.HistoryDirectory = t.TempDir()
	var result Result
	synctest.Test(t, func(t *testing.T) { result = Run(options) })
	if result.Failed() {
		t.Errorf("%s\nviolation: %v, linearizable: %v %s\ntrace:\n%s", result, result.Violation, result.Linearizable, result.HistoryFile, strings.Join(trace, "\n"))
	}
	return result
}

func TestOneSeed(t *testing.T) {
	result := runInBubble(t, Options{Seed: 1, Nodes: 3})
	t.Log(result)
}

func TestManySeeds(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		for _, nodes := range []int{3, 5} {
			result := runInBubble(t, Options{Seed: seed, Nodes: nodes})
			if t.Failed() {
				return
			}
			_ = result
		}
	}
}
