package sim

import (
	"slices"

	"github.com/lockstepdb/lockstep/raft"
)

// scheduleFault plans the next structural fault (partition, one-way cut or
// crash) at a random time.
func (c *cluster) scheduleFault() {
	delay := c.profile.faultInterval/2 + c.random.Uint64N(c.profile.faultInterval+1)
	c.scheduler.schedule(delay, &event{kind: eventFault})
}

func (c *cluster) injectFault() {
	if !c.faulty {
		return
	}
	defer c.scheduleFault()
	var choices []Fault
	for _, fault := range []Fault{FaultPartition, FaultOneWay, FaultCrash} {
		if c.options.has(fault) && c.options.Nodes > 1 {
			choices = append(choices, fault)
		}
	}
	if len(choices) == 0 {
		return
	}
	switch choices[c.random.IntN(len(choices))] {
	case FaultPartition:
		c.partition()
	case FaultOneWay:
		from := c.ids[c.random.IntN(len(c.ids))]
		to := c.ids[c.random.IntN(len(c.ids))]
		if from == to {
			return
		}
		c.network.healAll()
		c.network.cutLink(from, to)
		c.tracef("network: link %d->%d cut (one way)", from, to)
		c.scheduleHeal()
	case FaultCrash:
		var up []*node
		for _, n := range c.nodes {
			if n.up {
				up = append(up, n)
			}
		}
		if len(up) == 0 {
			return
		}
		victim := up[c.random.IntN(len(up))]
		// Prefer, now and then, the leader, and a node in the middle of a
		// write: their crashes are the interesting ones.
		for _, n := range up {
			if n.summary.Role == raft.RoleLeader && c.random.IntN(3) == 0 {
				victim = n
			}
			if (n.pending != nil && len(n.pending.Entries) > 0 || len(n.writes) > 0) && c.random.IntN(2) == 0 {
				victim = n
			}
		}
		c.crashNode(victim)
		downtime := uint64(1+c.random.IntN(30)) * tickInterval
		c.scheduler.schedule(downtime, &event{kind: eventRestart, node: victim.id})
	}
}

// partition splits the nodes into two sides; a third of the time the
// leader is isolated on its own.
func (c *cluster) partition() {
	c.network.healAll()
	var side []raft.NodeID
	for _, n := range c.nodes {
		if n.up && n.summary.Role == raft.RoleLeader && c.random.IntN(3) == 0 {
			side = []raft.NodeID{n.id}
		}
	}
	if side == nil {
		for _, id := range c.ids {
			if c.random.IntN(2) == 0 {
				side = append(side, id)
			}
		}
	}
	if len(side) == 0 || len(side) == len(c.ids) {
		return
	}
	for _, a := range c.ids {
		for _, b := range c.ids {
			if slices.Contains(side, a) != slices.Contains(side, b) {
				c.network.cutLink(a, b)
			}
		}
	}
	c.tracef("network: partition %v | rest", side)
	c.scheduleHeal()
}

func (c *cluster) scheduleHeal() {
	generation := c.network.generation
	delay := uint64(5+c.random.IntN(50)) * tickInterval
	c.scheduler.schedule(delay, &event{kind: eventHeal, heal: func() {
		if c.network.generation == generation {
			c.network.healAll()
			c.tracef("network: healed")
		}
	}})
}

// healEverything ends the faulty phase: the network is repaired and every
// crashed node restarts.
func (c *cluster) healEverything() {
	c.faulty = false
	c.network.healAll()
	for _, n := range c.nodes {
		if !n.up {
			c.tracef("node %d restarts for the liveness phase", n.id)
			c.startNode(n)
		}
	}
	c.tracef("all faults healed")
}

// describeFaults names a fault list as --faults takes it.
func describeFaults(faults []Fault) string {
	if len(faults) == 0 {
		return "none"
	}
	return joinFaults(faults)
}

// maybeCrashSoon schedules, now and then, a crash of a node a moment after
// something interesting happened to it — a leader elected, or a leader
// advancing its commit index — so that runs often reach the windows the
// protocol's hardest rules exist for: a leader crashing before its commit
// index reaches anyone (the seed chapter's puzzle), or right after counting
// replicas of an old term's entry (Raft's Figure 8).
func (c *cluster) maybeCrashSoon(n *node, probability float64) {
	if !c.faulty || !c.options.has(FaultCrash) || c.options.Nodes == 1 || c.random.Float64() >= probability {
		return
	}
	c.scheduler.schedule(1+c.random.Uint64N(2*c.profile.maxLatency), &event{kind: eventCrash, node: n.id, incarnation: n.incarnation})
}

// maybeCrashBeforeSending marks, now and then, a node to crash as the Ready
// now being taken leaves the core: none of its messages leaves and nothing
// of its write reaches the disk, as when a process dies between deciding
// and sending. Called as a leader is elected or advances its commit index,
// it stops a new leader's first entry from reaching anyone, or keeps the
// followers from learning a commit (the windows of Raft's Figure 8).
func (c *cluster) maybeCrashBeforeSending(n *node, probability float64) {
	if !c.faulty || !c.options.has(FaultCrash) || c.options.Nodes == 1 || c.random.Float64() >= probability {
		return
	}
	n.crashBeforeSending = true
}

// crashBeforeSending crashes a node marked by maybeCrashBeforeSending, and
// reports whether it did; the node restarts 1-30 ticks later.
func (c *cluster) crashBeforeSending(n *node) bool {
	if !n.crashBeforeSending {
		return false
	}
	n.crashBeforeSending = false
	c.tracef("node %d crashes before its Ready leaves", n.id)
	c.crashNode(n)
	c.scheduler.schedule(uint64(1+c.random.IntN(30))*tickInterval, &event{kind: eventRestart, node: n.id})
	return true
}

// maybeCrashAfterVote crashes, now and then, a node that has just granted a
// vote, before the vote is durable, and brings it back a tick or two later,
// while the election may still be running: a vote sent before it was
// persisted would then be forgotten and could be cast again in that term.
func (c *cluster) maybeCrashAfterVote(n *node, ready raft.Ready) {
	if !c.faulty || !c.options.has(FaultCrash) || c.options.Nodes == 1 {
		return
	}
	grants := false
	for _, m := range slices.Concat(ready.SendNow, ready.SendAfterPersist) {
		grants = grants || (m.Type == raft.MessageVoteResponse && !m.Reject)
	}
	// About one election in three, whatever the cluster's size.
	if !grants || c.random.IntN(3*c.options.Nodes) != 0 {
		return
	}
	downtime := uint64(1+c.random.IntN(2)) * tickInterval
	c.scheduler.schedule(0, &event{kind: eventCrash, node: n.id, incarnation: n.incarnation, downtime: downtime})
}

// maybeIsolateLeader, now and then, cuts the leader off from everyone as
// another node starts an election: the deposed leader may go on believing
// it leads (and answering reads from its lease) while the others elect a
// successor, the window lease reads and CheckQuorum exist for.
func (c *cluster) maybeIsolateLeader(candidate *node) {
	if !c.faulty || !c.options.has(FaultPartition) || c.random.IntN(10) != 0 {
		return
	}
	for _, leader := range c.nodes {
		if leader == candidate || !leader.up || leader.summary.Role != raft.RoleLeader {
			continue
		}
		c.network.healAll()
		for _, other := range c.ids {
			if other != leader.id {
				c.network.cutLink(leader.id, other)
				c.network.cutLink(other, leader.id)
			}
		}
		c.tracef("network: leader %d isolated as node %d stands", leader.id, candidate.id)
		c.scheduleHeal()
		return
	}
}
