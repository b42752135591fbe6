package check

import (
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/lockstepdb/lockstep/check/fault"
)

// TestSummaryCountsEachKind: the summary line counts every requested kind,
// zeros included, and keeps its old form when no fault was requested.
func TestSummaryCountsEachKind(t *testing.T) {
	result := Result{Operations: 10, Faults: 3, Linearizability: porcupine.Ok,
		FaultsByKind: []fault.KindCount{{Kind: fault.Kill, Count: 2}, {Kind: fault.Pause, Count: 1}, {Kind: fault.Transfer}}}
	if got, want := result.Summary(), "check: 10 ops, 3 faults (kill 2, pause 1, transfer 0), linearizable"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	if got, want := (Result{Operations: 10, Linearizability: porcupine.Ok}).Summary(), "check: 10 ops, 0 faults, linearizable"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
}
