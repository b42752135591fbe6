package stack

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
)

// Result summarizes one run.
type Result struct {
	Seed  uint64
	Nodes int
	// Violation is the first property found broken, or nil.
	Violation *Violation
	// Linearizable says whether the client history passed porcupine's
	// check; HistoryFile holds its picture when it did not.
	Linearizable bool
	HistoryFile  string
	// RecentTrace holds the last trace lines (up to 200) of a failed run
	// when Options.Trace was not set: a real-time run does not replay
	// exactly, so what led to a failure is kept the first time.
	RecentTrace []string
	// Figures, to see that the run did something.
	Ticks                  int
	Proposed, Acknowledged int
	Applied, Reads         int
	Crashes, DiskFaults    int
	// DiskFulls counts spells of a full disk (fillDisk), and
	// NoSpaceRefusals the writes they refused.
	DiskFulls, NoSpaceRefusals int
	Restarts, Partitions       int
	// ProcessRestarts counts processes restarted without a power failure
	// (after a disk fault, before the power fails).
	ProcessRestarts           int
	Transfers, Removed, Added int
	Promoted                  int
	// Restores counts state machines restored from a snapshot: on a
	// restart, or installed by the leader on a node that fell behind.
	Restores int
	// Loads counts durable state machines that started from a state their
	// disk kept (DurableMachines runs only).
	Loads               int
	Messages, Dropped   int
	Duplicated, Delayed int
	SnapshotEntries     int
	LeaseReads          bool
	// DurableMachines says whether the nodes ran durable state machines
	// (node.DurableStateMachine), which keep their state on disk.
	DurableMachines bool
}

// Failed says whether the run broke a property.
func (r Result) Failed() bool { return r.Violation != nil || !r.Linearizable }

// Run runs one whole-stack simulation: it starts options.Nodes nodes,
// drives the clients and options.Operations scheduled events, heals every
// fault, requires liveness, stops every node and checks the properties.
// Call it inside a testing/synctest bubble for virtual time, or outside for
// real time (see the package documentation); it creates every goroutine
// and channel it uses, and they have all ended when it returns.
func Run(options Options) Result {
	options = options.withDefaults()
	if err := options.validate(); err != nil {
		return Result{Seed: options.Seed, Nodes: options.Nodes, Violation: &Violation{Rule: "options", Detail: err.Error()}}
	}
	var recent *recentLines
	if options.Trace == nil {
		recent = &recentLines{limit: 200}
		options.Trace = recent.add
	}
	random := rand.New(rand.NewPCG(options.Seed, 0x737461636b))
	c := newCluster(options, random)
	c.recorder.tracef("seed %d: %d nodes, snapshot every %d entries, lease reads %v, asynchronous persistence %v, durable state machines %v",
		options.Seed, options.Nodes, c.profile.snapshotEntries, c.profile.leaseReads, c.profile.asyncPersistence, c.profile.durableMachines)
	for _, m := range c.sortedMembers() {
		c.start(m)
	}

	// The clients and the admin goroutine run through the faulty phase.
	clientContext, stopClients := context.WithCancel(context.Background())
	var group sync.WaitGroup
	for number := range options.Clients {
		cl := &client{cluster: c, number: number + 1, random: rand.New(rand.NewPCG(options.Seed, uint64(number+1)))}
		group.Go(func() { cl.run(clientContext) })
	}
	a := &admin{cluster: c, random: rand.New(rand.NewPCG(options.Seed, 0x61646d696e))}
	s := &schedule{cluster: c, random: random, admin: make(chan func())}
	group.Go(func() {
		for operation := range s.admin {
			operation()
		}
	})
	s.transfer, s.changeMembership = a.transfer, a.changeMembership
	s.run()
	stopClients()
	close(s.admin)
	group.Wait()

	if c.recorder.failed() == nil {
		c.heal()
		if membership, ok := c.settle(); ok {
			c.checkDurability(membership)
		}
		c.checkPrefixes()
	}
	c.stopAll()
	result := c.result(s.now)
	if recent != nil && result.Failed() {
		result.RecentTrace = recent.lines
	}
	return result
}

// RunSeed is Run with options but for their Seed: seed (for
// sim.RunSeeds).
func (options Options) RunSeed(seed uint64) Result {
	options.Seed = seed
	return Run(options)
}

// recentLines keeps the last lines of a trace. Trace calls come one at a
// time (Options.Trace), so it needs no lock of its own.
type recentLines struct {
	limit int
	lines []string
}

func (r *recentLines) add(line string) {
	if len(r.lines) == r.limit {
		r.lines = append(r.lines[:0], r.lines[1:]...)
	}
	r.lines = append(r.lines, line)
}

// result gathers the figures and runs the linearizability check.
func (c *cluster) result(ticks int) Result {
	r := c.recorder
	ok, path, err := r.checkLinearizable(c.options.Seed, c.options.HistoryDirectory)
	if err != nil {
		r.violate("history", "%v", err)
	}
	if !ok {
		r.tracef("history NOT LINEARIZABLE: %s", path)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	acknowledged := 0
	for _, w := range r.writes {
		if w.Acknowledged != 0 {
			acknowledged++
		}
	}
	w := c.network
	w.mu.Lock()
	defer w.mu.Unlock()
	return Result{
		Seed: c.options.Seed, Nodes: c.options.Nodes, Violation: r.violation, Linearizable: ok, HistoryFile: path,
		Ticks: ticks, Proposed: len(r.writes), Acknowledged: acknowledged, Applied: r.applied, Reads: len(r.reads),
		Crashes: int(c.counts.crashes.Load()), DiskFaults: int(c.counts.diskFaults.Load()), DiskFulls: int(c.counts.diskFulls.Load()), NoSpaceRefusals: int(c.counts.noSpaceRefusals.Load()), Restarts: int(c.counts.restarts.Load()),
		ProcessRestarts: int(c.counts.processRestarts.Load()), Partitions: int(c.counts.partitions.Load()), Transfers: int(c.counts.transfers.Load()),
		Removed: int(c.counts.removed.Load()), Added: int(c.counts.added.Load()), Promoted: int(c.counts.promoted.Load()), Restores: r.restores, Loads: r.loads,
		Messages: w.sent, Dropped: w.dropped, Duplicated: w.duplicated, Delayed: w.delayed,
		SnapshotEntries: c.profile.snapshotEntries, LeaseReads: c.profile.leaseReads, DurableMachines: c.profile.durableMachines,
	}
}

// String is a one-line summary of the run.
func (r Result) String() string {
	return fmt.Sprintf("seed %d: %d nodes, %d ticks, %d proposed, %d acknowledged, %d reads, %d applied; %d crashes (%d disk faults, %d processes restarted before the power failed), %d full disks (%d writes refused), %d partitions, %d transfers, %d removed, %d added, %d promoted, %d snapshot restores, %d durable machine loads; %d messages (%d dropped, %d duplicated, %d delayed)",
		r.Seed, r.Nodes, r.Ticks, r.Proposed, r.Acknowledged, r.Reads, r.Applied, r.Crashes, r.DiskFaults, r.ProcessRestarts, r.DiskFulls, r.NoSpaceRefusals, r.Partitions, r.Transfers, r.Removed, r.Added, r.Promoted, r.Restores, r.Loads, r.Messages, r.Dropped, r.Duplicated, r.Delayed)
}
