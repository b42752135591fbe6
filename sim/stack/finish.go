package stack

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// heal ends every fault: links, message faults, disk faults, full disks; it crashes
// the nodes that a failed fsync stopped, and restarts every member that is
// down and not retired.
func (c *cluster) heal() {
	c.network.Heal()
	c.network.SetFaults(0, 0, 0, 0)
	for _, m := range c.sortedMembers() {
		// Disarm every disk fault, including a crash armed for the next
		// fsync whose follow-up was not yet due: it would meet the restart
		// below and keep the node down for good.
		m.failSync.Store(false)
		m.powerFailure.Store(nil)
		c.mu.Lock()
		m.disk.SetCapacity(0)
		c.mu.Unlock()
		c.restartStopped(m)
		if up, retired := c.state(m); !up && !retired {
			c.start(m)
		}
	}
	c.recorder.tracef("every fault healed")
}

// restartStopped crashes and restarts a member whose node stopped by
// itself after a failed fsync, as an operator's supervisor would, and one
// whose power failed (a crash armed for an fsync went off) while its node
// has not noticed yet: the power failure's own follow-up, which stops the
// node, may not have come before the heal, which drops it, and a node
// that writes nothing more (a follower that only waits for a snapshot)
// would otherwise sit on a dead disk for good. heal does it once, and
// settle keeps doing it: a disk fault injected before the heal can stop a
// node after it (a background snapshot save, or an asynchronous log
// write, reports its failure later).
func (c *cluster) restartStopped(m *member) {
	c.mu.Lock()
	n := m.node
	c.mu.Unlock()
	if n == nil {
		return
	}
	switch power := m.power.Load(); {
	case n.Err() != nil:
		c.noteStopped(m, n.Err())
	case power != nil && power.failed():
		c.recorder.tracef("node %d: its power had failed", m.id)
	default:
		return
	}
	c.crash(m, nil)
	c.start(m)
}

// noteStopped records that m's node stopped by itself with err. With
// asynchronous persistence (the server's mode) a full disk pauses what
// needs space and resumes it when space returns (fillDisk): stopping
// would take a member away for a fault that heals by itself, so a stop
// on a no-space error is a violation. Without it, node.Node.LogDiskFull
// documents that a log write that finds no space stops the node.
func (c *cluster) noteStopped(m *member, err error) {
	if vfs.IsNoSpace(err) && c.profile.asyncPersistence {
		c.recorder.violate("disk-full", "node %d stopped on a full disk: %v", m.id, err)
	}
	c.recorder.tracef("node %d had stopped: %v", m.id, err)
}

// settle requires liveness once healed: within options.LivenessTicks a
// leader commits a new command, and every member of its configuration
// (restarted if it was stopped) passes a linearizable read, so it has
// applied everything committed before. It returns the final membership.
func (c *cluster) settle() (raft.Membership, bool) {
	ctx, cancel := c.timeout(c.options.LivenessTicks)
	defer cancel()
	membership, ok := c.probe(ctx)
	if !ok {
		c.recorder.violate("liveness", "no leader committed a command within %d ticks of healing; %s", c.options.LivenessTicks, c.describe())
		return membership, false
	}
	for _, id := range slices.Concat(membership.Voters, membership.Learners) {
		m := c.member(id)
		if m == nil {
			c.recorder.violate("liveness", "node %d is a member, but no such node was started", id)
			return membership, false
		}
		if up, _ := c.state(m); !up {
			c.mu.Lock()
			m.retired = false
			c.mu.Unlock()
			c.start(m)
		}
		if !c.readUntilAnswered(ctx, m) {
			c.recorder.violate("liveness", "member %d did not answer a read within %d ticks of healing; %s", id, c.options.LivenessTicks, c.describe())
			return membership, false
		}
	}
	c.recorder.tracef("settled: voters %v, learners %v", membership.Voters, membership.Learners)
	return membership, true
}

// describe says what each member is doing, for a liveness violation: a
// stalled cluster is only debuggable from the state it stalled in, since a
// real-time run does not replay exactly.
func (c *cluster) describe() string {
	var parts []string
	for _, m := range c.sortedMembers() {
		up, retired := c.state(m)
		c.mu.Lock()
		n := m.node
		c.mu.Unlock()
		switch {
		case retired:
			parts = append(parts, fmt.Sprintf("node %d retired", m.id))
		case !up || n == nil:
			parts = append(parts, fmt.Sprintf("node %d down", m.id))
		default:
			ctx, cancel := c.timeout(5 * electionTicks)
			status, err := n.Status(ctx)
			cancel()
			if err != nil {
				parts = append(parts, fmt.Sprintf("node %d gives no status (%v; stopped: %v)", m.id, err, n.Err()))
				continue
			}
			parts = append(parts, fmt.Sprintf("node %d %v term %d leader %d log %d..%d (last term %d) commit %d applied %d voters %v outgoing %v learners %v",
				m.id, status.Role, status.Term, status.Leader, status.FirstIndex, status.LastIndex, status.LastTerm,
				status.Commit, status.Applied, status.Membership.Voters, status.Membership.OutgoingVoters, status.Membership.Learners))
		}
	}
	return strings.Join(parts, "; ")
}

// probe proposes new commands on the leader until one is acknowledged,
// and returns the leader's membership once it is not joint. Each attempt
// is a new command: one that failed may still commit.
func (c *cluster) probe(ctx context.Context) (raft.Membership, bool) {
	for attempt := 1; ; attempt++ {
		for _, m := range c.sortedMembers() {
			c.restartStopped(m)
		}
		if leader, _, ok := c.leader(ctx); ok && c.put(ctx, leader, "probe", fmt.Sprint(attempt)) == nil {
			if status, err := leader.node.Status(ctx); err == nil && len(status.Membership.OutgoingVoters) == 0 {
				return status.Membership, true
			}
		}
		if !sleepTicks(ctx, c, 1) {
			return raft.Membership{}, false
		}
	}
}

// readUntilAnswered retries a read barrier on m until it succeeds.
func (c *cluster) readUntilAnswered(ctx context.Context, m *member) bool {
	for {
		c.restartStopped(m)
		c.mu.Lock()
		n := m.node
		c.mu.Unlock()
		if n != nil && n.Read(ctx) == nil {
			return true
		}
		if !sleepTicks(ctx, c, 1) {
			return false
		}
	}
}

// checkDurability checks that every acknowledged command is applied, at
// the index its Propose returned, on every member.
func (c *cluster) checkDurability(membership raft.Membership) {
	r := c.recorder
	r.mu.Lock()
	acknowledged := map[uint64]string{}
	for command, w := range r.writes {
		if w.Acknowledged != 0 {
			acknowledged[w.index] = command
		}
	}
	r.mu.Unlock()
	for _, id := range slices.Concat(membership.Voters, membership.Learners) {
		m := c.member(id)
		c.mu.Lock()
		machine := m.machine
		c.mu.Unlock()
		applied := machine.applied()
		byIndex := make(map[uint64]string, len(applied))
		for _, a := range applied {
			byIndex[a.index] = a.command
		}
		for index, command := range acknowledged {
			if byIndex[index] != command {
				r.violate("durability", "acknowledged %q at index %d is not applied there on member %d (it has %q)", command, index, id, byIndex[index])
				return
			}
		}
	}
}

// checkPrefixes checks that the applied sequences of all nodes (the last
// incarnation of each) are prefixes of one another, each command applied
// once.
func (c *cluster) checkPrefixes() {
	var longest []appliedCommand
	var longestID raft.NodeID
	sequences := map[raft.NodeID][]appliedCommand{}
	for _, m := range c.sortedMembers() {
		c.mu.Lock()
		machine := m.machine
		c.mu.Unlock()
		if machine == nil {
			continue
		}
		sequence := machine.applied()
		sequences[m.id] = sequence
		if len(sequence) > len(longest) {
			longest, longestID = sequence, m.id
		}
	}
	seen := map[string]bool{}
	for _, a := range longest {
		if seen[a.command] {
			c.recorder.violate("integrity", "node %d applied %q twice", longestID, a.command)
			return
		}
		seen[a.command] = true
	}
	for id, sequence := range sequences {
		if !slices.Equal(sequence, longest[:len(sequence)]) {
			c.recorder.violate("prefix", "node %d's applied sequence (%d commands) is not a prefix of node %d's (%d)", id, len(sequence), longestID, len(longest))
			return
		}
	}
}
