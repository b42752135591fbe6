package sim

import "github.com/lockstepdb/lockstep/raft"

// network carries messages between simulated nodes with latency, loss,
// duplication and partitions. Cuts are checked on delivery, so a partition
// also catches messages already in flight.
type network struct {
	// cut[from][to] drops messages from one node to another.
	cut map[raft.NodeID]map[raft.NodeID]bool
	// generation counts network faults, so that a heal scheduled for an
	// old fault does not undo a newer one.
	generation int
	sent       int
	dropped    int
}

func newNetwork() network {
	return network{cut: map[raft.NodeID]map[raft.NodeID]bool{}}
}

func (w *network) cutLink(from, to raft.NodeID) {
	if w.cut[from] == nil {
		w.cut[from] = map[raft.NodeID]bool{}
	}
	w.cut[from][to] = true
}

func (w *network) healAll() {
	w.cut = map[raft.NodeID]map[raft.NodeID]bool{}
	w.generation++
}

// send puts a message in flight.
func (w *network) send(c *cluster, m raft.Message) {
	w.sent++
	p := &c.profile
	if c.faulty && p.dropRate > 0 && c.random.Float64() < p.dropRate {
		w.dropped++
		c.tracef("drop     %v", m)
		return
	}
	copies := 1
	if c.faulty && p.duplicateRate > 0 && c.random.Float64() < p.duplicateRate {
		copies = 2
	}
	c.tracef("send     %v", m)
	for i := 0; i < copies; i++ {
		latency := 1 + c.random.Uint64N(p.maxLatency)
		if c.faulty && p.delayRate > 0 && c.random.Float64() < p.delayRate {
			// Held up for several heartbeats, then delivered: an old
			// message arriving into a newer world.
			latency += 2*tickInterval + c.random.Uint64N(20*tickInterval)
		}
		c.scheduler.schedule(latency, &event{kind: eventDeliver, message: m})
	}
	if c.faulty && m.Type == raft.MessageSnapshot && (p.duplicateRate > 0 || p.delayRate > 0) && c.random.IntN(3) == 0 {
		// A snapshot is big and slow: a copy that arrives after the
		// follower has moved past it tests that an old snapshot never
		// rolls a node back (Raft §7).
		c.scheduler.schedule(tickInterval+c.random.Uint64N(20*tickInterval), &event{kind: eventDeliver, message: m})
	}
}

// deliver hands a message to its recipient if it is up and reachable.
func (w *network) deliver(c *cluster, m raft.Message) {
	target := c.node(m.To)
	if !target.up || w.cut[m.From][m.To] {
		w.dropped++
		if sender := c.node(m.From); sender.up && m.Type == raft.MessageAppend && c.random.IntN(2) == 0 {
			// A runtime notices a broken stream now and then, and says
			// so, as node/ does when its transport's stream fails.
			c.input(sender, input{kind: eventUnreachable, message: m})
		}
		return
	}
	c.tracef("deliver  %v", m)
	c.input(target, input{kind: eventDeliver, message: m})
}
