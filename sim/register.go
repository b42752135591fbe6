package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/anishathalye/porcupine"

	// Aliased: this package's own history type is the client's record.
	checkhistory "github.com/lockstepdb/lockstep/check/history"
	"github.com/lockstepdb/lockstep/check/linearizability"
)

// Both simulators (this package's, of the core, and sim/stack's, of whole
// runtimes) have clients that put values to keys and read them back with
// linearizable reads. Their histories are checked here, against the model
// lockstep check uses for a real cluster (check/linearizability: a
// register per key, initially empty, a put sets it, a get must return
// it); the simulators' clients issue no compare-and-swap, the one
// operation that model has beyond a register.

// RegisterPut is a client's put of Value to Key as a simulator saw it.
// Times are the simulator's clock, in any unit; 0 means never.
type RegisterPut struct {
	Key, Value string
	// Call is when the client proposed it.
	Call int64
	// Acknowledged is when the client was told it committed.
	Acknowledged int64
	// FirstApplied is when any node first applied it. A put the client
	// never heard back about took effect, if at all, no later than that:
	// it was committed by then.
	FirstApplied int64
}

// RegisterRead is a completed linearizable read of Key that returned
// Value ("" for a key never written).
type RegisterRead struct {
	Key, Value   string
	Call, Answer int64
}

// CheckRegisters checks puts and reads for linearizability (taking at most
// timeout; 0 means no limit, and a check that runs out of time fails). A
// put is over when it was acknowledged or, if earlier, first applied; one
// neither acknowledged nor applied never took effect and is left out. A
// history that fails is drawn (porcupine's HTML picture) into directory
// (the system's temporary directory if empty) as name, and its path
// returned.
func CheckRegisters(puts []RegisterPut, reads []RegisterRead, timeout time.Duration, directory, name string) (ok bool, path string, err error) {
	operations := registerOperations(puts, reads)
	if result, _ := linearizability.Check(operations, timeout); result == porcupine.Ok {
		return true, "", nil
	}
	if directory == "" {
		directory = os.TempDir()
	}
	path = filepath.Join(directory, name)
	if err := linearizability.Visualize(operations, nil, timeout, path); err != nil {
		return false, "", fmt.Errorf("sim: draw the history: %w", err)
	}
	return false, path, nil
}

// registerOperations turns puts and reads, in that order, into the
// operations of a recorded history, each as its own client.
func registerOperations(puts []RegisterPut, reads []RegisterRead) []checkhistory.Operation {
	operations := make([]checkhistory.Operation, 0, len(puts)+len(reads))
	add := func(operation checkhistory.Operation) {
		operation.ID, operation.Client, operation.Outcome = len(operations), len(operations), checkhistory.Ok
		operations = append(operations, operation)
	}
	for _, put := range puts {
		end := put.Acknowledged
		if end == 0 || (put.FirstApplied != 0 && put.FirstApplied < end) {
			end = put.FirstApplied
		}
		if end != 0 {
			add(checkhistory.Operation{Kind: checkhistory.Put, Key: put.Key, Value: put.Value, Call: put.Call, Return: end})
		}
	}
	for _, read := range reads {
		add(checkhistory.Operation{Kind: checkhistory.Get, Key: read.Key, ReadValue: read.Value, Call: read.Call, Return: read.Answer})
	}
	return operations
}
