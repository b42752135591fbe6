package node

import (
	"context"
	"sync"
	"sync/atomic"
)

// maxApplyBacklog bounds the committed entries handed to the applier and
// not yet applied before Propose waits (see applier.waitForRoom). At
// lockstep bench's 13,000 puts/s it is about half a second of work: a
// store that stops taking writes for longer holds proposals back instead
// of letting the backlog, and its memory, grow.
const maxApplyBacklog = 8192

// applier runs the state machine's side of the loop's work on a goroutine
// of its own, in the order the loop hands it over: applying committed
// entries and answering their proposers, answering reads once their index
// is applied, and capturing the machine for a snapshot at an exact index.
//
// Why a goroutine of its own: a state machine's Apply may block for a long
// time (kv's Pebble stops taking writes while its flushes and compactions
// catch up, for up to a second under a sustained fill). On the loop that
// stopped the ticks, the heartbeats and the acknowledgements with it, so a
// leader whose store stalled lost its leadership. Now the loop only hands
// entries over and goes on; the core counts them as applied (Advance), the
// machine catches up behind it.
//
// Jobs run one at a time in the order posted, so the machine sees exactly
// the calls the loop would have made, in the same order, never two at
// once. post and the other methods but run are called from the loop.
type applier struct {
	mu sync.Mutex
	// jobs are posted and not yet taken by run; entries counts the
	// committed entries posted and not yet applied (jobs taken included).
	jobs    []applyJob
	entries int
	// room is closed when the backlog falls below maxApplyBacklog again;
	// it is open (and full is true) while the backlog is at the bound.
	room chan struct{}
	full bool

	// wake (buffered) tells run that jobs are queued.
	wake chan struct{}
	quit chan struct{}
	done chan struct{}

	// applied is the last log index the machine has applied, for Status
	// (any goroutine); the apply job sets it before it answers the
	// proposers.
	applied atomic.Uint64
}

// applyJob is one unit of ordered work: run does it, then counts its
// entries as applied (see finished).
type applyJob struct {
	do      func()
	entries int
}

// newApplier returns an applier whose machine has applied up to applied;
// the caller starts run on a goroutine of its own.
func newApplier(applied uint64) *applier {
	a := &applier{wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	a.applied.Store(applied)
	return a
}

// post queues a job. Loop goroutine only.
func (a *applier) post(job applyJob) {
	a.mu.Lock()
	a.jobs = append(a.jobs, job)
	a.entries += job.entries
	if a.entries >= maxApplyBacklog && !a.full {
		a.full, a.room = true, make(chan struct{})
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// run does the posted jobs in order until stop. Jobs still queued at stop
// are dropped: their entries are in the log, and a durable machine
// replays them from its AppliedIndex at the next start.
func (a *applier) run() {
	defer close(a.done)
	var taken []applyJob
	for {
		select {
		case <-a.quit:
			return
		case <-a.wake:
		}
		a.mu.Lock()
		taken, a.jobs = a.jobs, taken[:0]
		a.mu.Unlock()
		for i, job := range taken {
			select {
			case <-a.quit:
				return
			default:
			}
			job.do()
			taken[i] = applyJob{} // the job's closure holds entries: let them go
			if job.entries > 0 {
				a.finished(job.entries)
			}
		}
	}
}

// finished counts entries as applied and opens room for proposals once
// the backlog is below the bound.
func (a *applier) finished(entries int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries -= entries
	if a.full && a.entries < maxApplyBacklog {
		a.full = false
		close(a.room)
	}
}

// waitForRoom returns once fewer than maxApplyBacklog entries wait to be
// applied, or with ctx's error, or ErrStopped. Called by Propose's caller,
// before it hands its proposal to the loop.
func (a *applier) waitForRoom(ctx context.Context) error {
	for {
		a.mu.Lock()
		full, room := a.full, a.room
		a.mu.Unlock()
		if !full {
			return nil
		}
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		case <-a.done:
			return ErrStopped
		}
	}
}

// drain returns once every job posted before it is done, or ErrStopped
// when stopping closes first. The loop calls it before it replaces the
// machine's state (installing a snapshot from the leader).
func (a *applier) drain(stopping <-chan struct{}) error {
	finished := make(chan struct{})
	a.post(applyJob{do: func() { close(finished) }})
	select {
	case <-finished:
		return nil
	case <-stopping:
		return ErrStopped
	case <-a.done:
		return ErrStopped
	}
}

// stop ends run after the job it is doing, and waits for it.
func (a *applier) stop() {
	close(a.quit)
	<-a.done
}
