package sim

import "github.com/lockstepdb/lockstep/raft"

// Asynchronous persistence (Options.AsyncPersistence): a node takes each
// Ready at once — sends its messages (SendAfterPersist holds only those the
// core released), applies, advances — and queues its write, which the disk
// completes later, in order. Inputs never wait for the disk. A crash loses
// every write in flight (with torn writes, the oldest may leave a prefix of
// its entries on disk).

// takeReadiesAsync takes every Ready the core has, queueing their writes.
func (c *cluster) takeReadiesAsync(n *node) {
	for n.up && n.core.HasReady() {
		ready := n.core.Ready()
		c.checker.onReady(n, ready)
		if c.crashBeforeSending(n) {
			return
		}
		c.maybeCrashAfterVote(n, ready)
		for _, m := range ready.SendNow {
			c.network.send(c, m)
		}
		for _, m := range ready.SendAfterPersist {
			c.network.send(c, m)
		}
		c.applyReady(n, ready)
		sequence := ready.PersistSequence
		if sequence != 0 {
			// Keep only what the disk needs: the message lists go back to
			// the core with Advance.
			n.writes = append(n.writes, writeOnly(ready))
			// The disk completes writes in order, each a little after the
			// one before.
			n.diskFreeAt = max(n.diskFreeAt, c.scheduler.now) + 1 + c.random.Uint64N(c.profile.maxFsyncLatency)
			c.scheduler.schedule(n.diskFreeAt-c.scheduler.now, &event{kind: eventPersisted, node: n.id, incarnation: n.incarnation})
		}
		n.core.Advance(ready)
		c.checker.observe(n)
	}
}

// writeOnly is the part of a Ready a write needs.
func writeOnly(ready raft.Ready) raft.Ready {
	return raft.Ready{HardState: ready.HardState, MustSync: ready.MustSync, Entries: ready.Entries, Snapshot: ready.Snapshot, PersistSequence: ready.PersistSequence}
}

// completeWrite makes the oldest write in flight durable and reports it to
// the core.
func (c *cluster) completeWrite(n *node) {
	if len(n.writes) == 0 {
		c.checker.violate("storage", "node %d: a write completed with none in flight", n.id)
		return
	}
	write := n.writes[0]
	n.writes = n.writes[1:]
	if !c.writeToDisk(n, write) {
		return
	}
	n.core.Persisted(write.PersistSequence)
	c.checker.observe(n)
	c.takeReadiesAsync(n)
}
