package stack

import (
	"fmt"
	"time"
)

// Options configures one whole-stack run.
type Options struct {
	// Seed fixes the schedule and every random choice (see the package
	// documentation for what it does not fix).
	Seed uint64
	// Nodes is the number of voters (3 or 5 are typical; 1 to 7).
	Nodes int
	// Operations is the number of scheduled events (faults, restarts,
	// heals, transfers, membership changes) in the faulty phase; clients
	// propose and read throughout it. Default 40.
	Operations int
	// Clients is the number of concurrent clients. Default 3.
	Clients int
	// TickInterval is the nodes' tick and the schedule's unit of time.
	// Default 10 ms (in a synctest bubble the clock is virtual, so it
	// costs nothing); the command line uses 1 ms of real time.
	TickInterval time.Duration
	// LivenessTicks bounds how long, once every fault has healed, the
	// cluster may take to commit a new command and bring every member up
	// to date. Default 400 (20 to 40 election timeouts).
	LivenessTicks int
	// Trace, if set, receives a readable line for each scheduled event and
	// client outcome of note. It is called from several goroutines, one
	// call at a time.
	Trace func(line string)
	// HistoryDirectory receives porcupine's picture of a history that is
	// not linearizable (default: the system's temporary directory).
	HistoryDirectory string

	// loseDiskOnCrash replaces a crashed node's disk by an empty one: a
	// broken disk that the checks must notice (tests only).
	loseDiskOnCrash bool
}

// electionTicks is the nodes' election timeout in ticks (randomized in
// [electionTicks, 2*electionTicks)).
const electionTicks = 10

func (o Options) withDefaults() Options {
	if o.Operations == 0 {
		o.Operations = 40
	}
	if o.Clients == 0 {
		o.Clients = 3
	}
	if o.TickInterval == 0 {
		o.TickInterval = 10 * time.Millisecond
	}
	if o.LivenessTicks == 0 {
		o.LivenessTicks = 400
	}
	return o
}

func (o Options) validate() error {
	if o.Nodes < 1 || o.Nodes > 7 {
		return fmt.Errorf("stack: %d nodes: must be between 1 and 7", o.Nodes)
	}
	if o.Operations < 0 || o.Clients < 0 || o.LivenessTicks < 0 {
		return fmt.Errorf("stack: operations %d, clients %d and liveness ticks %d must not be negative", o.Operations, o.Clients, o.LivenessTicks)
	}
	if o.TickInterval < time.Millisecond {
		return fmt.Errorf("stack: tick interval %v is below 1ms", o.TickInterval)
	}
	return nil
}
