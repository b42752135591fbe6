package sim

import (
	"errors"
	"fmt"
	"slices"

	"github.com/lockstepdb/lockstep/raft"
)

// workload is the client: it proposes unique commands and records which it
// was told committed. A command is acknowledged when the node it was
// proposed to applies it at the index and term Propose returned — the
// moment a real server would answer the client.
type workload struct {
	sequence    int
	leaderGuess raft.NodeID
	proposed    map[string]bool
	// waiting maps an index to the proposal that should land there.
	waiting map[uint64]proposal
	// acknowledged maps an index to the entry whose command the client
	// was told committed.
	acknowledged map[uint64]raft.Entry
	// probeAcknowledged is set once a command proposed after healing is
	// acknowledged: the liveness phase's goal.
	probeAcknowledged bool
	// probeIndex is where the latest liveness-phase proposal should land.
	probeIndex uint64
	// history is what the client saw, for the linearizability check.
	history history
}

type proposal struct {
	node    raft.NodeID
	term    uint64
	command string
	// afterHeal marks a proposal made in the liveness phase.
	afterHeal bool
}

func newWorkload() workload {
	return workload{proposed: map[string]bool{}, waiting: map[uint64]proposal{}, acknowledged: map[uint64]raft.Entry{}, history: newHistory()}
}

func (w *workload) scheduleNext(c *cluster) {
	c.scheduler.schedule(10+c.random.Uint64N(2*tickInterval), &event{kind: eventPropose})
}

// propose sends a new command to the node the client believes leads (or a
// random one), as a client would.
func (w *workload) propose(c *cluster) {
	if c.faulty {
		defer w.scheduleNext(c)
	} else if w.probeAcknowledged || w.probePending(c) {
		// After healing, one command at a time: the client waits for its
		// probe unless the leader that took it has lost office.
		return
	}
	target := w.leaderGuess
	if target == raft.None || c.random.IntN(10) == 0 {
		target = c.ids[c.random.IntN(len(c.ids))]
	}
	n := c.node(target)
	if !n.up {
		w.leaderGuess = raft.None
		return
	}
	w.sequence++
	key := fmt.Sprintf("k%d", c.random.IntN(keySpace))
	if c.faulty && c.random.IntN(3) == 0 {
		// A linearizable read, on whichever node the client reached; half
		// the time on a node that believes it leads, which during a
		// partition may be a deposed leader: the read that must not be
		// stale.
		if c.random.IntN(2) == 0 {
			var leaders []*node
			for _, candidate := range c.nodes {
				if candidate.up && candidate.summary.Role == raft.RoleLeader {
					leaders = append(leaders, candidate)
				}
			}
			if len(leaders) > 0 {
				n = leaders[c.random.IntN(len(leaders))]
			}
		}
		c.input(n, input{kind: eventRead, command: []byte(key)})
		return
	}
	command := fmt.Sprintf("%s=c%d", key, w.sequence)
	if !c.faulty {
		command = fmt.Sprintf("%s=probe%d", key, w.sequence)
	}
	c.input(n, input{kind: eventPropose, command: []byte(command)})
}

// keySpace is the number of keys the client uses: few, so that reads and
// writes of a key overlap often.
const keySpace = 5

// readOn starts a linearizable read on a node.
func (w *workload) readOn(c *cluster, n *node, key []byte) {
	w.sequence++
	context := fmt.Sprintf("r%d", w.sequence)
	if err := n.core.ReadIndex([]byte(context)); err != nil {
		return
	}
	n.reads[context] = &pendingRead{key: string(key), call: c.scheduler.now, committedAtCall: c.checker.committed.lastIndex()}
}

// onReadStates records read states that reached a node, then answers every
// read whose index the node's state machine has reached.
func (w *workload) onReadStates(c *cluster, n *node, states []raft.ReadState) {
	for _, state := range states {
		if read := n.reads[string(state.Context)]; read != nil {
			read.index = state.Index
			c.checker.checkReadIndex(n, read)
		}
	}
	var ready []string
	for context, read := range n.reads {
		if read.index > 0 && n.applied >= read.index {
			ready = append(ready, context)
		}
	}
	slices.Sort(ready)
	for _, context := range ready {
		read := n.reads[context]
		delete(n.reads, context)
		w.history.reads = append(w.history.reads, RegisterRead{Key: read.key, Value: n.kv[read.key], Call: int64(read.call), Answer: int64(c.scheduler.now)})
		c.tracef("node %d: read %s = %q (index %d)", n.id, read.key, n.kv[read.key], read.index)
	}
}

// proposeOn runs a proposal on a node's core.
func (w *workload) proposeOn(c *cluster, n *node, command []byte) {
	index, term, err := n.core.Propose(command)
	var notLeader *raft.NotLeaderError
	switch {
	case errors.As(err, &notLeader):
		w.leaderGuess = notLeader.Leader
		return
	case err != nil:
		return
	}
	w.leaderGuess = n.id
	w.proposed[string(command)] = true
	if key, value, ok := parsePut(command); ok {
		w.history.writes[string(command)] = &RegisterPut{Key: key, Value: value, Call: int64(c.scheduler.now)}
	}
	w.waiting[index] = proposal{node: n.id, term: term, command: string(command), afterHeal: !c.faulty}
	if !c.faulty {
		w.probeIndex = index
	}
	c.tracef("node %d: propose %s -> index %d term %d", n.id, command, index, term)
}

// onApply acknowledges a proposal when its node applies it where promised.
func (w *workload) onApply(c *cluster, n *node, entry raft.Entry) {
	if write := w.history.writes[string(entry.Data)]; write != nil && entry.Type == raft.EntryNormal && write.FirstApplied == 0 {
		write.FirstApplied = int64(c.scheduler.now)
	}
	waiting, ok := w.waiting[entry.Index]
	if !ok || waiting.node != n.id {
		return
	}
	delete(w.waiting, entry.Index)
	if entry.Term != waiting.term {
		// Another leader's entry took the slot: the command was lost
		// before it committed, and the client is told so.
		return
	}
	w.acknowledged[entry.Index] = entry
	if write := w.history.writes[waiting.command]; write != nil {
		write.Acknowledged = int64(c.scheduler.now)
	}
	if waiting.afterHeal {
		w.probeAcknowledged = true
	}
	c.tracef("node %d: client acknowledged %s at %d", n.id, waiting.command, entry.Index)
}

// probePending reports whether the latest liveness-phase proposal still
// waits on a node that leads in the term it was proposed in.
func (w *workload) probePending(c *cluster) bool {
	if w.probeIndex == 0 {
		return false
	}
	waiting, ok := w.waiting[w.probeIndex]
	if !ok || !waiting.afterHeal {
		return false
	}
	n := c.node(waiting.node)
	return n.up && n.summary.Role == raft.RoleLeader && n.summary.Term == waiting.term
}
