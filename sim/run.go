package sim

import (
	"fmt"
	"runtime/debug"
)

// Result summarizes one simulated run.
type Result struct {
	Seed  uint64
	Steps int
	// Violation is the first property broken, or nil.
	Violation *Violation
	// Figures about the run, to see that it did something.
	Proposed     int
	Acknowledged int
	Applied      int
	Leaders      int // distinct terms that had a leader
	MaxTerm      uint64
	Messages     int
	Dropped      int
	// HealTicks is how many ticks the liveness phase took.
	HealTicks int
	// Reads counts completed linearizable reads; Linearizable says
	// whether the client history passed porcupine's check (HistoryFile
	// holds its visualization when it did not).
	Reads        int
	Linearizable bool
	HistoryFile  string
}

// Run simulates one cluster for options.Steps events with faults, then heals
// everything and requires progress within options.LivenessTicks ticks. It
// never panics: a panic in the core is reported as a violation.
func Run(options Options) (result Result) {
	result.Seed = options.Seed
	if err := options.validate(); err != nil {
		result.Violation = &Violation{Rule: "options", Detail: err.Error()}
		return result
	}
	if options.LivenessTicks == 0 {
		options.LivenessTicks = 100
	}
	c := newCluster(options)
	defer func() {
		if r := recover(); r != nil {
			c.checker.violation = nil
			c.checker.violate("panic", "%v\n%s", r, debug.Stack())
		}
		result = c.result()
	}()
	for c.step = 0; c.step < options.Steps && c.checker.violation == nil; c.step++ {
		e := c.scheduler.next()
		if e == nil {
			break
		}
		c.handle(e)
	}
	c.traceNodes("after the faulty phase")
	if c.checker.violation == nil {
		c.runLivenessPhase()
		c.traceNodes("at the end")
	}
	ok, path, err := c.workload.history.checkLinearizable(options.Seed, options.HistoryDirectory)
	if err != nil {
		c.checker.violate("history", "%v", err)
	}
	c.linearizable, c.historyFile = ok, path
	return result
}

// RunSeed is Run with options but for their Seed: seed (for RunSeeds).
func (options Options) RunSeed(seed uint64) Result {
	options.Seed = seed
	return Run(options)
}

// runLivenessPhase heals every fault and requires the cluster to elect a
// leader, commit a new command and apply it on every node within the
// liveness bound. A run that stalls is a violation.
func (c *cluster) runLivenessPhase() {
	c.healEverything()
	start := c.scheduler.now
	deadline := start + uint64(c.options.LivenessTicks)*tickInterval
	c.scheduler.schedule(0, &event{kind: eventPropose})
	nextProbe := start + tickInterval
	for c.checker.violation == nil {
		if c.livenessReached() {
			c.healTicks = int((c.scheduler.now - start + tickInterval - 1) / tickInterval)
			c.checker.checkAcknowledged()
			return
		}
		e := c.scheduler.next()
		if e == nil || e.at > deadline {
			c.checker.violate("liveness", "no leader committed and applied a new command on every node within %d ticks of healing", c.options.LivenessTicks)
			return
		}
		c.step++
		c.handle(e)
		if c.scheduler.now >= nextProbe {
			// Keep knocking until a proposal lands on a leader.
			nextProbe = c.scheduler.now + tickInterval
			c.scheduler.schedule(0, &event{kind: eventPropose})
		}
	}
}

func (c *cluster) livenessReached() bool {
	w := &c.workload
	if !w.probeAcknowledged {
		return false
	}
	// Every acknowledged command, not just the probe, must be everywhere.
	var needed uint64
	for index := range w.acknowledged {
		needed = max(needed, index)
	}
	for _, n := range c.members() {
		if n.applied < needed {
			return false
		}
	}
	return true
}

func (c *cluster) result() Result {
	var maxTerm uint64
	for term := range c.checker.leaders {
		maxTerm = max(maxTerm, term)
	}
	for _, n := range c.nodes {
		maxTerm = max(maxTerm, n.summary.Term)
	}
	return Result{
		Seed:         c.options.Seed,
		Steps:        c.step,
		Violation:    c.checker.violation,
		Proposed:     len(c.workload.proposed),
		Acknowledged: len(c.workload.acknowledged),
		Applied:      c.checker.appliedCount,
		Leaders:      len(c.checker.leaders),
		MaxTerm:      maxTerm,
		Messages:     c.network.sent,
		Dropped:      c.network.dropped,
		HealTicks:    c.healTicks,
		Reads:        len(c.workload.history.reads),
		Linearizable: c.linearizable,
		HistoryFile:  c.historyFile,
	}
}

// ReplayCommand is the command line that replays one seed with a trace.
func ReplayCommand(options Options, seed uint64) string {
	mode := ""
	if options.AsyncPersistence {
		mode = " --async"
	}
	return fmt.Sprintf("lockstep sim --seed %d --steps %d --nodes %d --faults %s%s --trace", seed, options.Steps, options.Nodes, describeFaults(options.Faults), mode)
}
