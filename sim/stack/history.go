package stack

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/anishathalye/porcupine"
)

// registerOperation is one client operation on a register: a put of value,
// or a get that returned value.
type registerOperation struct {
	put        bool
	key, value string
}

// registerModel is a register per key, initially empty: a put sets it, a
// get must return it. Partitioning by key keeps the check fast.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, operation := range history {
			key := operation.Input.(registerOperation).key
			byKey[key] = append(byKey[key], operation)
		}
		var partitions [][]porcupine.Operation
		for _, key := range slices.Sorted(maps.Keys(byKey)) {
			partitions = append(partitions, byKey[key])
		}
		return partitions
	},
	Init: func() any { return "" },
	Step: func(state, input, _ any) (bool, any) {
		operation := input.(registerOperation)
		if operation.put {
			return true, operation.value
		}
		return operation.value == state.(string), state
	},
	DescribeOperation: func(input, _ any) string {
		operation := input.(registerOperation)
		if operation.put {
			return fmt.Sprintf("put %s=%s", operation.key, operation.value)
		}
		return fmt.Sprintf("get %s -> %q", operation.key, operation.value)
	},
}

// operations turns the recorded history into porcupine operations. A put
// is over when it was acknowledged or, if earlier, when a node first
// applied it (it was committed by then); a put never applied anywhere
// never took effect and is left out, as a read without answer was.
func (r *recorder) operations() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	var operations []porcupine.Operation
	for _, command := range slices.Sorted(maps.Keys(r.writes)) {
		w := r.writes[command]
		end := w.firstApplied
		if end == 0 {
			continue
		}
		if w.acknowledged != 0 && w.acknowledged < end {
			end = w.acknowledged
		}
		operations = append(operations, porcupine.Operation{
			ClientId: len(operations), Input: registerOperation{put: true, key: w.key, value: w.value},
			Call: w.call, Return: end,
		})
	}
	for _, read := range r.reads {
		operations = append(operations, porcupine.Operation{
			ClientId: len(operations), Input: registerOperation{key: read.key, value: read.value},
			Call: read.call, Return: read.answer,
		})
	}
	return operations
}

// checkLinearizable checks the history with porcupine; a history that is
// not linearizable is drawn into directory, and its path returned.
func (r *recorder) checkLinearizable(seed uint64, directory string) (ok bool, path string, err error) {
	result, info := porcupine.CheckOperationsVerbose(registerModel, r.operations(), 0)
	if result == porcupine.Ok {
		return true, "", nil
	}
	if directory == "" {
		directory = os.TempDir()
	}
	path = filepath.Join(directory, fmt.Sprintf("lockstep-sim-stack-seed-%d.html", seed))
	if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
		return false, "", fmt.Errorf("stack: draw the history of seed %d: %w", seed, err)
	}
	return false, path, nil
}
