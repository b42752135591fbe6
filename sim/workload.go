package sim

import (
	"errors"
	"fmt"

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
}

type proposal struct {
	node    raft.NodeID
	term    uint64
	command string
	// afterHeal marks a proposal made in the liveness phase.
	afterHeal bool
}

func newWorkload() workload {
	return workload{proposed: map[string]bool{}, waiting: map[uint64]proposal{}, acknowledged: map[uint64]raft.Entry{}}
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
	command := fmt.Sprintf("c%d", w.sequence)
	if !c.faulty {
		command = fmt.Sprintf("probe%d", w.sequence)
	}
	c.input(n, input{kind: eventPropose, command: []byte(command)})
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
	w.waiting[index] = proposal{node: n.id, term: term, command: string(command), afterHeal: !c.faulty}
	if !c.faulty {
		w.probeIndex = index
	}
	c.tracef("node %d: propose %s -> index %d term %d", n.id, command, index, term)
}

// onApply acknowledges a proposal when its node applies it where promised.
func (w *workload) onApply(c *cluster, n *node, entry raft.Entry) {
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
