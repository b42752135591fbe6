package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
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
// Jobs run one at a time in the order posted, so the machine sees the
// entries the loop would have applied, in the same order, never two calls
// at once. Apply jobs found queued one after another are applied in one
// Apply call: while the machine is busy the loop posts one per Ready, and
// one batch costs the store less than many. post and the other methods
// but run are called from the loop.
type applier struct {
	machine StateMachine
	// observe, if not nil, is given each answered proposal's stage times
	// (Config.ObserveProposal).
	observe func(ProposalTimes)

	mu sync.Mutex
	// jobs are posted and not yet taken by run; entries counts the
	// commands posted and not yet applied (jobs taken included).
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
	// (any goroutine); it is set before the proposers are answered.
	applied atomic.Uint64
}

// applyJob is one unit of ordered work: either an apply (commands for the
// machine, possibly none, and the proposers to answer, covering the log up
// to lastIndex) or, when do is set, anything else that must happen after
// the applies posted before it.
type applyJob struct {
	commands  []Entry
	answers   []answer
	lastIndex uint64
	do        func()
}

// newApplier returns an applier for machine, which has applied up to
// applied; the caller starts run on a goroutine of its own.
func newApplier(machine StateMachine, observe func(ProposalTimes), applied uint64) *applier {
	a := &applier{machine: machine, observe: observe, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	a.applied.Store(applied)
	return a
}

// post queues a job. Loop goroutine only.
func (a *applier) post(job applyJob) {
	a.mu.Lock()
	a.jobs = append(a.jobs, job)
	a.entries += len(job.commands)
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
	var spare []applyJob
	for {
		select {
		case <-a.quit:
			return
		case <-a.wake:
		}
		a.mu.Lock()
		jobs := a.jobs
		a.jobs = spare[:0]
		a.mu.Unlock()
		if !a.runJobs(jobs) {
			return
		}
		clear(jobs) // the jobs hold entries and closures: let them go
		spare = jobs[:0]
	}
}

// runJobs does jobs in order, merging consecutive applies; it returns
// false if told to quit before the end.
func (a *applier) runJobs(jobs []applyJob) bool {
	for next := 0; next < len(jobs); {
		select {
		case <-a.quit:
			return false
		default:
		}
		if jobs[next].do != nil {
			jobs[next].do()
			next++
			continue
		}
		end := next + 1
		for end < len(jobs) && jobs[end].do == nil {
			end++
		}
		a.apply(jobs[next:end])
		next = end
	}
	return true
}

// apply applies consecutive apply jobs' commands in one Apply call, then
// answers their proposers.
func (a *applier) apply(jobs []applyJob) {
	commands := jobs[0].commands
	if len(jobs) > 1 {
		total := 0
		for _, job := range jobs {
			total += len(job.commands)
		}
		commands = make([]Entry, 0, total)
		for _, job := range jobs {
			commands = append(commands, job.commands...)
		}
	}
	var results []Result
	if len(commands) > 0 {
		results = a.machine.Apply(commands)
	}
	a.applied.Store(jobs[len(jobs)-1].lastIndex)
	offset := 0
	for _, job := range jobs {
		for _, answer := range job.answers {
			var result Result
			if at := offset + answer.result; answer.result >= 0 && at < len(results) {
				result = results[at]
			}
			if a.observe != nil {
				answer.waiting.times.Applied = time.Now()
				a.observe(answer.waiting.times)
			}
			answer.waiting.done <- outcome{result: result}
		}
		offset += len(job.commands)
	}
	a.finished(len(commands))
}

// finished counts entries as applied and opens room for proposals once
// the backlog is below the bound.
func (a *applier) finished(entries int) {
	if entries == 0 {
		return
	}
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
