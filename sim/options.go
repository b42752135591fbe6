// Package sim runs whole lockstep clusters inside one process under a
// seeded scheduler that owns time, the network and the disks. It injects
// faults — message loss, duplication, reordering and delay, symmetric and
// one-way partitions, crashes that lose unsynced writes (including torn
// batches), and clock skew — and checks Raft's safety properties after every
// step. The same seed always produces the same run, bit for bit, so any
// failure replays exactly.
package sim

import (
	"fmt"
	"slices"
	"strings"
)

// Fault names a class of injected failure.
type Fault string

// The faults the simulator can inject.
const (
	FaultDrop      Fault = "drop"      // messages lost
	FaultDuplicate Fault = "duplicate" // messages delivered twice
	FaultReorder   Fault = "reorder"   // widely varying latency, so messages overtake each other
	FaultDelay     Fault = "delay"     // occasional messages delayed past several heartbeats
	FaultPartition Fault = "partition" // the cluster split into two sides
	FaultOneWay    Fault = "oneway"    // one direction of a link cut
	FaultCrash     Fault = "crash"     // a node stops, losing what it had not persisted, and restarts later
	FaultTorn      Fault = "torn"      // a crash persists only a prefix of the batch being written
	FaultSkew      Fault = "skew"      // nodes' clocks tick at different rates
	FaultSnapshot  Fault = "snapshot"  // nodes snapshot their state and compact their logs at random
	FaultMember    Fault = "member"    // membership changes: add, promote, remove, replace nodes
	FaultTransfer  Fault = "transfer"  // leadership transfers at random
)

// AllFaults lists every fault, in a fixed order.
var AllFaults = []Fault{FaultDrop, FaultDuplicate, FaultReorder, FaultDelay, FaultPartition, FaultOneWay, FaultCrash, FaultTorn, FaultSkew,
	FaultSnapshot, FaultMember, FaultTransfer}

// spareNodes is how many nodes beyond the initial voters a run with
// membership changes has: they start outside the cluster and may be added.
const spareNodes = 2

// ParseFaults parses a comma-separated list of fault names; "all" means
// every fault and "none" (or the empty string) none.
func ParseFaults(list string) ([]Fault, error) {
	list = strings.TrimSpace(list)
	switch list {
	case "all":
		return slices.Clone(AllFaults), nil
	case "", "none":
		return nil, nil
	}
	var faults []Fault
	for _, name := range strings.Split(list, ",") {
		fault := Fault(strings.TrimSpace(name))
		if !slices.Contains(AllFaults, fault) {
			return nil, fmt.Errorf("sim: unknown fault %q (known: %s, all, none)", name, joinFaults(AllFaults))
		}
		if !slices.Contains(faults, fault) {
			faults = append(faults, fault)
		}
	}
	return faults, nil
}

func joinFaults(faults []Fault) string {
	names := make([]string, len(faults))
	for i, fault := range faults {
		names[i] = string(fault)
	}
	return strings.Join(names, ",")
}

// Options configures one simulated run.
type Options struct {
	// Seed determines everything random in the run.
	Seed uint64
	// Nodes is the cluster size (1, 3, 5 or 7 are typical).
	Nodes int
	// Steps is the number of scheduler events in the faulty phase. After
	// it, every fault heals and the cluster must make progress within
	// LivenessTicks ticks.
	Steps int
	// Faults are the failures to inject.
	Faults []Fault
	// LivenessTicks bounds how long, after healing, the cluster may take
	// to elect a leader and commit a new command on every node. Default
	// 100 (ten election timeouts).
	LivenessTicks int
	// Trace, if set, receives a readable history of the run.
	Trace func(line string)
	// AsyncPersistence runs every core with raft.Config.AsyncPersistence:
	// a node takes each Ready at once and keeps stepping inputs while its
	// writes complete later, in order (a crash loses those in flight).
	AsyncPersistence bool
	// HistoryDirectory receives porcupine's visualization of any history
	// that is not linearizable (default: the system's temporary directory).
	HistoryDirectory string
}

func (o *Options) has(fault Fault) bool { return slices.Contains(o.Faults, fault) }

func (o *Options) validate() error {
	if o.Nodes < 1 || o.Nodes > 9 {
		return fmt.Errorf("sim: --nodes %d must be between 1 and 9", o.Nodes)
	}
	if o.Steps < 0 {
		return fmt.Errorf("sim: --steps %d must not be negative", o.Steps)
	}
	return nil
}
