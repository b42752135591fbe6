package history

import "sync"

// Recorder collects completed operations from many client goroutines and
// numbers them in the order they are added. Safe for concurrent use.
type Recorder struct {
	mutex      sync.Mutex
	operations []Operation
}

// Add records a completed operation, assigns its ID and returns it.
func (recorder *Recorder) Add(operation Operation) Operation {
	recorder.mutex.Lock()
	defer recorder.mutex.Unlock()
	operation.ID = len(recorder.operations)
	recorder.operations = append(recorder.operations, operation)
	return operation
}

// Operations returns a copy of everything recorded so far.
func (recorder *Recorder) Operations() []Operation {
	recorder.mutex.Lock()
	defer recorder.mutex.Unlock()
	return append([]Operation(nil), recorder.operations...)
}

// Count returns how many operations were recorded so far.
func (recorder *Recorder) Count() int {
	recorder.mutex.Lock()
	defer recorder.mutex.Unlock()
	return len(recorder.operations)
}
