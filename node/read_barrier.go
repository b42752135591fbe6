package node

import (
	"errors"

	"github.com/lockstepdb/lockstep/raft"
)

var errRetryRead = errors.New("node: read must be retried")

// answerReads queues each read whose barrier the core confirmed until its
// read index is applied, then releases those now handed to the applier,
// earlier reads included (see releaseApplied). finishReady calls it right
// after apply, so this is the one place reads are released.
func (n *Node) answerReads(states []raft.ReadState) {
	for _, state := range states {
		read, ok := n.reads[string(state.Context)]
		if !ok {
			continue
		}
		delete(n.reads, string(state.Context))
		n.waitForApplied(state.Index, read.done)
	}
	n.releaseApplied()
}

// pendingRead is a read barrier waiting for its read index: the caller
// waits on done, and registered is the tick it was asked at.
type pendingRead struct {
	done       chan error
	registered uint64
}

// expireReads forgets read barriers unanswered for two election timeouts.
// Read gives up on a barrier after one (the request or its answer may
// have been lost) and asks again under a new context, so without this a
// follower cut off from a stable leader would keep every abandoned
// registration until the leader changed. A caller still waiting is told
// to retry.
func (n *Node) expireReads() {
	for key, read := range n.reads {
		if n.ticks-read.registered >= 2*uint64(n.config.ElectionTicks) {
			read.done <- errRetryRead
			delete(n.reads, key)
		}
	}
}

// waitForApplied answers done once the state machine reaches index.
func (n *Node) waitForApplied(index uint64, done chan error) {
	n.pendingApplies = append(n.pendingApplies, pendingApply{index: index, done: done})
}

type pendingApply struct {
	index uint64
	done  chan error
}

// releaseApplied answers the reads whose index is handed to the applier,
// once the applier has applied it: the answer is a job behind the apply.
func (n *Node) releaseApplied() {
	var ready []chan error
	kept := n.pendingApplies[:0]
	for _, pending := range n.pendingApplies {
		if pending.index <= n.applied {
			ready = append(ready, pending.done)
		} else {
			kept = append(kept, pending)
		}
	}
	n.pendingApplies = kept
	if len(ready) == 0 {
		return
	}
	n.applier.post(applyJob{do: func() {
		for _, done := range ready {
			done <- nil
		}
	}})
}
