package node

import (
	"sync"
	"sync/atomic"
	"time"
)

// A proposal's state, which decides whether a caller whose context ended
// may report that its command was certainly not proposed.
const (
	proposalQueued    int32 = iota // in the queue; the loop has not taken it
	proposalTaken                  // the loop took it: it may be in the log
	proposalWithdrawn              // its caller gave up before the loop took it
)

// proposalQueue hands proposals from callers to the loop. Callers append
// under a mutex and wake the loop, which takes every queued proposal at
// once. An unbuffered channel, as the loop's other requests use, cost each
// proposal a hand-over in each direction (the loop receives it and readies
// its caller, which then waits for the loop to say whether the core took
// it): with 1,000 clients the leader's proposers parked and were woken
// three times per put, where the queue leaves one, when the entry is
// applied.
type proposalQueue struct {
	mu     sync.Mutex
	queued []*waiter
	// wake holds a token while the queue may be non-empty (capacity 1:
	// one wake covers every proposal queued before the loop takes them).
	wake chan struct{}
}

func newProposalQueue() *proposalQueue {
	return &proposalQueue{wake: make(chan struct{}, 1)}
}

// push queues a proposal and wakes the loop. Called by any goroutine.
func (q *proposalQueue) push(proposal *waiter) {
	q.mu.Lock()
	q.queued = append(q.queued, proposal)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default: // a wake is pending already
	}
}

// take returns every queued proposal and leaves spare (emptied) as the
// queue, so the two slices alternate without allocating. Loop goroutine
// only.
func (q *proposalQueue) take(spare []*waiter) []*waiter {
	q.mu.Lock()
	taken := q.queued
	q.queued = spare[:0]
	q.mu.Unlock()
	return taken
}

// takeProposals proposes every queued proposal to the core, in the order
// they were queued, skipping those withdrawn: each is then either waiting
// for its entry (in n.waiters) or answered with the core's refusal.
// Loop goroutine only.
func (n *Node) takeProposals() {
	taken := n.proposals.take(n.proposalSpare)
	for i, proposal := range taken {
		taken[i] = nil
		if !proposal.state.CompareAndSwap(proposalQueued, proposalTaken) {
			continue
		}
		propose := proposal.propose
		proposal.propose = nil
		index, term, err := propose()
		if err != nil {
			proposal.done <- outcome{err: n.translate(err)}
			continue
		}
		proposal.term = term
		if n.stages != nil {
			proposal.times = ProposalTimes{Submitted: proposal.submitted, Appended: time.Now()}
		}
		if earlier, ok := n.waiters[index]; ok {
			// This node led before, was cut off and lost the entries it
			// had appended past what the others kept, and leads again
			// before those indexes were applied: the entry a caller there
			// waits for is gone for good (a leader appends only where
			// nothing is committed), so it is dropped, not left waiting.
			earlier.done <- outcome{err: ErrDropped}
		}
		n.waiters[index] = proposal
	}
	n.proposalSpare = taken[:0]
}

// waiter is a caller's proposal: queued for the loop (propose), then, once
// the core appended it, waiting for the entry at an index to be applied.
type waiter struct {
	// propose appends the entry to the core's log and returns its index
	// and term; run once, by the loop.
	propose func() (uint64, uint64, error)
	// submitted is when the caller queued it (Config.ObserveProposal).
	submitted time.Time
	state     atomic.Int32
	// term is the term of the entry once appended (loop goroutine).
	term uint64
	// done receives the one outcome (capacity 1: the loop never blocks).
	done chan outcome
	// times, kept only when Config.ObserveProposal is set.
	times ProposalTimes
}

// withdraw takes back a proposal whose caller stopped waiting: true if the
// loop had not taken it, so that it will never be proposed.
func (w *waiter) withdraw() bool {
	return w.state.CompareAndSwap(proposalQueued, proposalWithdrawn)
}
