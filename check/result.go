package check

import (
	"fmt"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/lockstepdb/lockstep/check/fault"
)

// Result is the outcome of a run.
type Result struct {
	// Operations is the number of operations porcupine checked.
	Operations int
	// Recorded is the number of operations the clients made, including
	// failed reads (which are not checked).
	Recorded int
	// Faults is the number of faults injected.
	Faults int
	// FaultsByKind counts them for each requested kind, in the order
	// requested, zeros included.
	FaultsByKind []fault.KindCount
	// Linearizability is porcupine's verdict ("" if it did not run).
	Linearizability porcupine.CheckResult
	// FailingKeys are the keys whose own history is not linearizable.
	FailingKeys []string
	// Problems lists everything else found wrong: divergence, watch stream
	// defects, lost writes, crashed members, a cluster that did not recover.
	Problems []string
	// Interrupted is set when the run was cancelled before checking.
	Interrupted bool
	// OutputDirectory is where the failure was written, if it was.
	OutputDirectory string
}

// Passed reports whether the history was linearizable and nothing else
// was found wrong.
func (result Result) Passed() bool {
	return !result.Interrupted && result.Linearizability == porcupine.Ok && len(result.Problems) == 0
}

// Verdict is the result in a few words.
func (result Result) Verdict() string {
	switch {
	case result.Interrupted:
		return "interrupted"
	case result.Linearizability == porcupine.Illegal:
		return withOthers(fmt.Sprintf("NOT linearizable (%d keys)", len(result.FailingKeys)), len(result.Problems))
	case result.Linearizability == porcupine.Unknown:
		return withOthers("unknown (the linearizability checker timed out)", len(result.Problems))
	case len(result.Problems) > 0:
		// The summary is one line; the details are in the report.
		first, _, _ := strings.Cut(result.Problems[0], "\n")
		return withOthers("FAILED: "+first, len(result.Problems)-1)
	case result.Linearizability == porcupine.Ok:
		return "linearizable"
	}
	return "not checked"
}

func withOthers(verdict string, others int) string {
	if others == 0 {
		return verdict
	}
	return fmt.Sprintf("%s, and %d more problems", verdict, others)
}

// Summary is the one line a run ends with:
// "check: <ops> ops, <faults> faults (<kind> <count>, ...), <result>",
// every requested kind counted (the parenthesis is left out when no fault
// was requested).
func (result Result) Summary() string {
	byKind := ""
	if len(result.FaultsByKind) > 0 {
		counts := make([]string, len(result.FaultsByKind))
		for i, count := range result.FaultsByKind {
			counts[i] = fmt.Sprintf("%s %d", count.Kind, count.Count)
		}
		byKind = " (" + strings.Join(counts, ", ") + ")"
	}
	return fmt.Sprintf("check: %d ops, %d faults%s, %s", result.Operations, result.Faults, byKind, result.Verdict())
}
