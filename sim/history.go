package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The client's key-value operations, recorded with their call and return
// times in simulated time, are checked for linearizability with porcupine
// against a register per key.

type kvInput struct {
	put   bool
	key   string
	value string
}

type kvOutput struct {
	value string
}

// writeRecord is a put as the client saw it.
type writeRecord struct {
	key, value string
	call       uint64
	// acknowledged is when the client was told it committed (0: never).
	acknowledged uint64
	// firstApplied is when any node first applied it (0: never). A put the
	// client never heard back about took effect, if at all, no later than
	// that: it was committed by then.
	firstApplied uint64
}

// readRecord is a completed linearizable read.
type readRecord struct {
	key, value   string
	call, answer uint64
}

// history is the client-visible record of a run.
type history struct {
	writes map[string]*writeRecord // by command
	reads  []readRecord
}

func newHistory() history { return history{writes: map[string]*writeRecord{}} }

// operations turns the history into porcupine operations. A put that was
// never acknowledged but applied somewhere is given the first application
// as its return time; one never applied anywhere never took effect and is
// left out, as is a read that got no answer.
func (h *history) operations() []porcupine.Operation {
	var operations []porcupine.Operation
	commands := make([]string, 0, len(h.writes))
	for command := range h.writes {
		commands = append(commands, command)
	}
	slices.Sort(commands) // deterministic order
	for _, command := range commands {
		write := h.writes[command]
		end := write.acknowledged
		if end == 0 || (write.firstApplied != 0 && write.firstApplied < end) {
			end = write.firstApplied
		}
		if end == 0 {
			continue
		}
		operations = append(operations, porcupine.Operation{
			ClientId: len(operations), Input: kvInput{put: true, key: write.key, value: write.value},
			Call: int64(write.call), Output: kvOutput{}, Return: int64(end),
		})
	}
	for _, read := range h.reads {
		operations = append(operations, porcupine.Operation{
			ClientId: len(operations), Input: kvInput{key: read.key},
			Call: int64(read.call), Output: kvOutput{value: read.value}, Return: int64(read.answer),
		})
	}
	return operations
}

// kvModel is a register per key: a put sets it, a get must return it.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, operation := range history {
			key := operation.Input.(kvInput).key
			if _, seen := byKey[key]; !seen {
				keys = append(keys, key)
			}
			byKey[key] = append(byKey[key], operation)
		}
		slices.Sort(keys)
		partitions := make([][]porcupine.Operation, 0, len(keys))
		for _, key := range keys {
			partitions = append(partitions, byKey[key])
		}
		return partitions
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		in := input.(kvInput)
		if in.put {
			return true, in.value
		}
		return output.(kvOutput).value == state.(string), state
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(kvInput)
		if in.put {
			return fmt.Sprintf("put(%s, %s)", in.key, in.value)
		}
		return fmt.Sprintf("get(%s) -> %q", in.key, output.(kvOutput).value)
	},
}

// checkLinearizable checks the history. On a non-linearizable history (or
// a check that cannot finish in time) it writes porcupine's visualization
// into directory and returns its path.
func (h *history) checkLinearizable(seed uint64, directory string) (ok bool, path string, err error) {
	operations := h.operations()
	result, info := porcupine.CheckOperationsVerbose(kvModel, operations, 20*time.Second)
	if result == porcupine.Ok {
		return true, "", nil
	}
	if directory == "" {
		directory = os.TempDir()
	}
	path = filepath.Join(directory, fmt.Sprintf("lockstep-sim-seed-%d.html", seed))
	if err := porcupine.VisualizePath(kvModel, info, path); err != nil {
		return false, "", fmt.Errorf("sim: write history of seed %d: %w", seed, err)
	}
	return false, path, nil
}

// parsePut parses a put command "key=value".
func parsePut(data []byte) (key, value string, ok bool) {
	return strings.Cut(string(data), "=")
}
