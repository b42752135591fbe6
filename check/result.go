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
	// requested, zeros included (the unavailable left out).
	FaultsByKind []fault.KindCount
	// Unavailable lists the requested faults left out of the run because
	// it could not inject them (Config.DropUnavailableFaults).
	Unavailable []UnavailableFault
	// FaultEvents are the faults as they happened, including those that
	// could not be injected (the report's faults.jsonl).
	FaultEvents []fault.Event
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

// UnavailableFault is a requested kind of fault the run left out, and why.
type UnavailableFault struct {
	Kind   fault.Kind
	Reason string
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
// "check: <ops> ops, <faults> faults (<kind> <count>, ..., <kind>
// unavailable), <result>", every requested kind counted or said to be
// unavailable (the parenthesis is left out when no fault was requested).
func (result Result) Summary() string {
	byKind := ""
	if len(result.FaultsByKind)+len(result.Unavailable) > 0 {
		var counts []string
		for _, count := range result.FaultsByKind {
			counts = append(counts, fmt.Sprintf("%s %d", count.Kind, count.Count))
		}
		for _, unavailable := range result.Unavailable {
			counts = append(counts, fmt.Sprintf("%s unavailable", unavailable.Kind))
		}
		byKind = " (" + strings.Join(counts, ", ") + ")"
	}
	return fmt.Sprintf("check: %d ops, %d faults%s, %s", result.Operations, result.Faults, byKind, result.Verdict())
}
