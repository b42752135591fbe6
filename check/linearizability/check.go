package linearizability

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/lockstepdb/lockstep/check/history"
)

// Operations converts a recorded history into porcupine's form. Failed
// operations (reads that got no answer) had no effect and are left out;
// ambiguous writes keep their infinite return time.
func Operations(recorded []history.Operation) []porcupine.Operation {
	operations := make([]porcupine.Operation, 0, len(recorded))
	for _, operation := range recorded {
		if operation.Outcome == history.Failed {
			continue
		}
		operations = append(operations, porcupine.Operation{
			ClientId: operation.Client,
			Input: input{
				kind:     operation.Kind,
				key:      operation.Key,
				value:    operation.Value,
				expected: operation.ExpectedValue,
				compare:  operation.Compare,
			},
			Call: operation.Call,
			Output: output{
				ambiguous: operation.Outcome == history.Ambiguous,
				readValue: operation.ReadValue,
				succeeded: operation.Succeeded,
			},
			Return:   operation.Return,
			Metadata: describeSource(operation),
		})
	}
	return operations
}

// describeSource names an operation for the HTML picture: its ID, and the
// member it was sent to when it has one (a simulator's operations do not).
func describeSource(operation history.Operation) string {
	if operation.Endpoint == "" {
		return fmt.Sprintf("operation %d", operation.ID)
	}
	return fmt.Sprintf("operation %d, %s", operation.ID, operation.Endpoint)
}

// Check reports whether the history is linearizable: porcupine.Ok,
// porcupine.Illegal, or porcupine.Unknown when the search did not finish
// within timeout (0 means no limit). The caller treats anything but Ok as a
// failure. It returns the number of operations checked.
func Check(recorded []history.Operation, timeout time.Duration) (porcupine.CheckResult, int) {
	operations := Operations(recorded)
	return porcupine.CheckOperationsTimeout(Model(), operations, timeout), len(operations)
}

// Visualize checks the history again, keeping the partial linearizations
// porcupine found, and writes porcupine's HTML picture of it to path, with
// the annotations (faults, for example) drawn alongside the clients.
func Visualize(recorded []history.Operation, annotations []porcupine.Annotation, timeout time.Duration, path string) error {
	_, info := porcupine.CheckOperationsVerbose(Model(), Operations(recorded), timeout)
	info.AddAnnotations(annotations)
	if err := porcupine.VisualizePath(Model(), info, path); err != nil {
		return fmt.Errorf("linearizability: visualize into %s: %w", path, err)
	}
	return nil
}

// FailingKeys checks each key's history on its own and returns the keys
// whose history is not linearizable (or could not be decided within
// timeout each), in first-seen order: the places to look in a failure.
func FailingKeys(recorded []history.Operation, timeout time.Duration) []string {
	byKey := map[string][]history.Operation{}
	var keys []string
	for _, operation := range recorded {
		if _, seen := byKey[operation.Key]; !seen {
			keys = append(keys, operation.Key)
		}
		byKey[operation.Key] = append(byKey[operation.Key], operation)
	}
	var failing []string
	for _, key := range keys {
		if result, _ := Check(byKey[key], timeout); result != porcupine.Ok {
			failing = append(failing, key)
		}
	}
	return failing
}
