// Package history records what the checker's clients did to the cluster:
// every operation with its call and return time and its outcome, in the
// shape porcupine and the watch cross-checks consume, and as JSON lines for
// a person reading a failure.
package history

import "math"

// Infinity is the return time of an operation whose outcome is unknown
// (a timeout or an ambiguous failure): porcupine's convention for "this
// write may take effect at any time after its call, or never".
const Infinity int64 = math.MaxInt64

// Kind names what an operation does.
type Kind string

// The operations the workload issues.
const (
	// Get is a linearizable single-key read.
	Get Kind = "get"
	// Put writes a value that no other operation in the run writes.
	Put Kind = "put"
	// CompareAndSwap is a Txn: if the key's value (or mod revision) is as
	// expected, put a new unique value; otherwise read the current value.
	CompareAndSwap Kind = "cas"
)

// Outcome says what the client learned about an operation.
type Outcome string

// The outcomes of an operation.
const (
	// Ok: the server answered; the result fields hold its answer.
	Ok Outcome = "ok"
	// Failed: the operation certainly had no effect (only reads are
	// classified so, as a read has no effect either way). Failed operations
	// are left out of the linearizability check.
	Failed Outcome = "failed"
	// Ambiguous: a write whose fate is unknown (timeout, connection lost);
	// it may have been applied. Its Return is Infinity.
	Ambiguous Outcome = "ambiguous"
)

// Compare names what a compare-and-swap compares.
type Compare string

// The comparisons a compare-and-swap can make.
const (
	// CompareValue compares the key's value with ExpectedValue.
	CompareValue Compare = "value"
	// CompareModRevision compares the key's mod revision with
	// ExpectedRevision; 0 means "the key does not exist".
	CompareModRevision Compare = "mod_revision"
)

// Operation is one client operation and what came of it. Times are
// nanoseconds since the run started (see Clock). The checker treats the
// value of a key as the unique value of the write that produced it; the
// empty string means the key does not exist.
type Operation struct {
	ID     int    `json:"id"`
	Client int    `json:"client"`
	Kind   Kind   `json:"kind"`
	Key    string `json:"key"`
	// Endpoint is the client URL of the member the operation was sent to.
	Endpoint string `json:"endpoint,omitempty"`
	// Value is the value a put or compare-and-swap writes.
	Value string `json:"value,omitempty"`
	// Compare, ExpectedValue and ExpectedRevision describe a
	// compare-and-swap's condition. ExpectedValue is always set to the
	// value the client believed the key holds (for a mod revision compare,
	// the value it read together with that revision), which is what lets a
	// value-only model judge both kinds of compare.
	Compare          Compare `json:"compare,omitempty"`
	ExpectedValue    string  `json:"expected_value,omitempty"`
	ExpectedRevision int64   `json:"expected_revision,omitempty"`

	Call    int64   `json:"call_ns"`
	Return  int64   `json:"return_ns"`
	Outcome Outcome `json:"outcome"`
	Error   string  `json:"error,omitempty"`

	// ReadValue is what a get returned, or what a failed compare-and-swap
	// read in its else branch; "" when the key did not exist.
	ReadValue string `json:"read_value,omitempty"`
	// ModRevision is the mod revision of the key a get returned.
	ModRevision int64 `json:"mod_revision,omitempty"`
	// Succeeded reports whether a compare-and-swap's condition held.
	Succeeded bool `json:"succeeded,omitempty"`
	// Revision is the store revision in the response header: for a write
	// that changed the store, the revision it created.
	Revision int64 `json:"revision,omitempty"`
	// Final marks the reads made after every fault was healed.
	Final bool `json:"final,omitempty"`
	// Resolution records how an ambiguous write was settled from the watch
	// stream, if it was ("applied at revision N", "not applied").
	Resolution string `json:"resolution,omitempty"`
}

// IsWrite reports whether the operation may change the store.
func (operation Operation) IsWrite() bool { return operation.Kind != Get }
