package stack

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockstepdb/lockstep/sim"
)

// Violation is a broken property.
type Violation struct {
	// Tick is when it was found, in ticks since the run started.
	Tick int64
	// Rule names the property: agreement, integrity, validity, durability,
	// prefix, liveness, restart, linearizability.
	Rule   string
	Detail string
}

func (v *Violation) String() string {
	return fmt.Sprintf("tick %d: %s: %s", v.Tick, v.Rule, v.Detail)
}

// write is a client's put as the client saw it (the register history's
// put: sim.CheckRegisters checks them) and as the nodes applied it. Times
// are the recorder's logical clock; 0 means never.
type write struct {
	sim.RegisterPut
	// index is where the acknowledged command was applied, from its
	// Propose result.
	index uint64
	// refused: the node said the command was certainly not applied (not
	// the leader, or dropped).
	refused bool
}

// recorder is shared by every state machine and client of a run: it keeps
// the cluster-wide truth (which command each index holds) and the client
// history, and the first violation. It is safe for concurrent use; its lock
// is never held while waiting for anything.
type recorder struct {
	start time.Time
	tick  time.Duration
	// clock orders events across goroutines: a timestamp taken after
	// another event returned is larger than any taken before. The real
	// clock cannot do this inside a synctest bubble, where time stands
	// still while goroutines run.
	clock atomic.Int64

	mu        sync.Mutex
	writes    map[string]*write // by command
	reads     []sim.RegisterRead
	byIndex   map[uint64]string // the command applied at each index
	applied   int
	restores  int
	loads     int
	violation *Violation
	trace     func(string)
}

func newRecorder(tick time.Duration, trace func(string)) *recorder {
	return &recorder{start: time.Now(), tick: tick, writes: map[string]*write{}, byIndex: map[uint64]string{}, trace: trace}
}

// now returns the next logical timestamp.
func (r *recorder) now() int64 { return r.clock.Add(1) }

// ticks returns the time since the run started, in ticks.
func (r *recorder) ticks() int64 { return int64(time.Since(r.start) / r.tick) }

// tracef sends a line to the trace, if any, prefixed with the tick.
func (r *recorder) tracef(format string, args ...any) {
	if r.trace == nil {
		return
	}
	line := fmt.Sprintf("t=%-6d ", r.ticks()) + fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trace(line)
}

// violate records a violation; the first one is kept. Callers hold r.mu.
func (r *recorder) violateLocked(rule, format string, args ...any) {
	if r.violation != nil {
		return
	}
	r.violation = &Violation{Tick: r.ticks(), Rule: rule, Detail: fmt.Sprintf(format, args...)}
	if r.trace != nil {
		r.trace(fmt.Sprintf("t=%-6d VIOLATION %s: %s", r.violation.Tick, rule, r.violation.Detail))
	}
}

func (r *recorder) violate(rule, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violateLocked(rule, format, args...)
}

func (r *recorder) failed() *Violation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.violation
}

// propose records a put before the client proposes it.
func (r *recorder) propose(command, key, value string) {
	call := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes[command] = &write{RegisterPut: sim.RegisterPut{Key: key, Value: value, Call: call}}
}

// acknowledge records that Propose returned index for command: the leader
// applied it there.
func (r *recorder) acknowledge(command string, index uint64) {
	when := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.writes[command]
	w.Acknowledged, w.index = when, index
	if r.byIndex[index] != command {
		r.violateLocked("durability", "command %q acknowledged at index %d, which holds %q", command, index, r.byIndex[index])
	}
}

// refuse records that the node said command was certainly not applied.
func (r *recorder) refuse(command string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.writes[command]
	w.refused = true
	if w.FirstApplied != 0 {
		r.violateLocked("validity", "command %q was refused (not leader or dropped) yet applied", command)
	}
}

// onApply checks one command as a node applies it at index: some client
// proposed it, it was not refused, and every node applies the same command
// at that index.
func (r *recorder) onApply(node uint64, index uint64, command string) {
	when := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied++
	r.checkIndexLocked(node, index, command)
	if w := r.writes[command]; w != nil && w.FirstApplied == 0 {
		w.FirstApplied = when
	}
}

// checkIndexLocked checks agreement and validity for a command found at
// index on a node (applied, or in a restored snapshot).
func (r *recorder) checkIndexLocked(node uint64, index uint64, command string) {
	w := r.writes[command]
	switch {
	case w == nil:
		r.violateLocked("validity", "node %d has %q at index %d, which no client proposed", node, command, index)
	case w.refused:
		r.violateLocked("validity", "node %d has %q at index %d, though it was refused", node, command, index)
	}
	if known, ok := r.byIndex[index]; !ok {
		r.byIndex[index] = command
	} else if known != command {
		r.violateLocked("agreement", "node %d has %q at index %d where another node applied %q", node, command, index, known)
	}
}

// onRestore checks a snapshot image as a node restores it.
func (r *recorder) onRestore(node uint64, commands []appliedCommand) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restores++
	r.checkSequenceLocked(node, commands)
}

// onLoad checks the state a durable machine loaded from its disk at start
// as a restored image is checked: each command it holds was proposed, not
// refused, and is the one every node has at its index.
func (r *recorder) onLoad(node uint64, commands []appliedCommand) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loads++
	r.checkSequenceLocked(node, commands)
}

// checkSequenceLocked checks each command of a restored or loaded state.
func (r *recorder) checkSequenceLocked(node uint64, commands []appliedCommand) {
	for _, c := range commands {
		r.checkIndexLocked(node, c.index, c.command)
	}
}

// onRead records a completed read.
func (r *recorder) onRead(key, value string, call int64) {
	answer := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads = append(r.reads, sim.RegisterRead{Key: key, Value: value, Call: call, Answer: answer})
}
