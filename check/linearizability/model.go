// Package linearizability checks a recorded history against a sequential
// key-value specification with porcupine, partitioned by key, and draws
// porcupine's HTML picture of a history that fails. It is lockstep's one
// model of a key-value client: lockstep check's, and both simulators'
// (sim.CheckRegisters, whose clients use its puts and gets only).
package linearizability

import (
	"fmt"
	"hash/fnv"

	"github.com/anishathalye/porcupine"

	"github.com/lockstepdb/lockstep/check/history"
)

// input is what porcupine sees as an operation's call.
type input struct {
	kind     history.Kind
	key      string
	value    string // put and compare-and-swap: the value written
	expected string // compare-and-swap: the value the condition expects
	compare  history.Compare
}

// output is what porcupine sees as an operation's return.
type output struct {
	ambiguous bool
	readValue string // get, failed compare-and-swap: the value read
	succeeded bool   // compare-and-swap: whether the condition held
}

// Model is the sequential specification of one key: its state is the key's
// value, "" while it does not exist. Every write in a run writes a value no
// other write writes, so a value names the write that produced it, and a
// compare on mod revision R is the same as a compare on the value that was
// read together with R (the recorder stores that value as ExpectedValue).
//
// An ambiguous write may be linearized anywhere after its call; placing it
// after every other operation is the same as "never applied", so the model
// simply applies it wherever porcupine tries it.
func Model() porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() interface{} { return "" },
		Step: func(state, call, result interface{}) (bool, interface{}) {
			return step(state.(string), call.(input), result.(output))
		},
		Hash: func(state interface{}) uint64 {
			hash := fnv.New64a()
			hash.Write([]byte(state.(string)))
			return hash.Sum64()
		},
		DescribeOperation: func(call, result interface{}) string {
			return describe(call.(input), result.(output))
		},
		DescribeState: func(state interface{}) string {
			if state.(string) == "" {
				return "(absent)"
			}
			return state.(string)
		},
	}
}

// step applies one operation to a key whose value is current and reports
// whether the operation's observed result is possible.
func step(current string, call input, result output) (bool, interface{}) {
	switch call.kind {
	case history.Get:
		return result.readValue == current, current
	case history.Put:
		return true, call.value
	case history.CompareAndSwap:
		holds := current == call.expected
		if result.ambiguous {
			if holds {
				return true, call.value
			}
			return true, current
		}
		if result.succeeded != holds {
			return false, current
		}
		if holds {
			return true, call.value
		}
		// A failed compare-and-swap read the key in its else branch.
		return result.readValue == current, current
	}
	return false, current
}

// partitionByKey splits a history into one independent history per key:
// keys do not interact, so each can be checked alone, which keeps the
// search small.
func partitionByKey(operations []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, operation := range operations {
		key := operation.Input.(input).key
		if _, seen := byKey[key]; !seen {
			keys = append(keys, key)
		}
		byKey[key] = append(byKey[key], operation)
	}
	partitions := make([][]porcupine.Operation, 0, len(keys))
	for _, key := range keys {
		partitions = append(partitions, byKey[key])
	}
	return partitions
}

// describe renders an operation for the HTML picture.
func describe(call input, result output) string {
	shown := func(value string) string {
		if value == "" {
			return "(absent)"
		}
		return value
	}
	switch call.kind {
	case history.Get:
		return fmt.Sprintf("get(%s) → %s", call.key, shown(result.readValue))
	case history.Put:
		if result.ambiguous {
			return fmt.Sprintf("put(%s, %s) → ?", call.key, call.value)
		}
		return fmt.Sprintf("put(%s, %s)", call.key, call.value)
	case history.CompareAndSwap:
		condition := fmt.Sprintf("cas(%s, %s == %s, %s)", call.key, call.compare, shown(call.expected), call.value)
		switch {
		case result.ambiguous:
			return condition + " → ?"
		case result.succeeded:
			return condition + " → ok"
		default:
			return condition + " → failed, saw " + shown(result.readValue)
		}
	}
	return string(call.kind)
}
