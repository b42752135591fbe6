package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// maxMergedBytes bounds the commands of one Apply call: the loop cuts a
// Ready's commands into jobs of at most this much (one command may be
// larger), and the applier merges queued jobs up to it. kv writes each
// command's value twice into one Pebble batch, and Pebble turns a batch
// above half its 16 MiB memtable into a memtable of its own, flushed at
// once: merging a whole backlog after a stall would make exactly such
// batches, and so did a fill's Readies of 32 transactions of 128 KiB each
// (a tenth to a sixth of what a member wrote in a 1,000,000-key fill).
const maxMergedBytes = 2 << 20

// backlogBound is an amount of committed work waiting for the machine: a
// count of commands and their bytes.
type backlogBound struct{ entries, bytes int }

// applyBacklog is the backlog at which proposers wait before they reach
// the loop (see applier.waitForRoom). At lockstep bench's 13,000 puts/s
// its count is about half a second of work, and its bytes more than a
// second of a fill of 1 KiB values: a store that stops taking writes for
// longer holds proposals back instead of letting the backlog, and its
// memory, grow. A variable only so that tests can lower it.
var applyBacklog = backlogBound{entries: 8192, bytes: 32 << 20}

// loopWaitFactor times applyBacklog is the backlog at which the loop of a
// member that does not lead waits for the machine (see
// applier.waitForMachine): a follower, whose entries arrive from its
// leader, stops there, as it did when the loop applied, and so does a
// node replaying a long log at start. A leader's loop never waits: its
// entries are its own proposals, held back by waitForRoom. Kept low: a
// follower's memory holds this backlog besides the appends in flight to
// it (up to 256 of 1 MiB), and the Go heap grows to twice what it holds.
const loopWaitFactor = 2

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
// Apply call (up to maxMergedBytes of commands): while the machine is busy
// the loop posts one or more per Ready, and one batch costs the store less
// than many. post and the other methods but run are called from the loop.
type applier struct {
	machine StateMachine
	// observe, if not nil, is given each answered proposal's stage times
	// (Config.ObserveProposal).
	observe func(ProposalTimes)

	mu sync.Mutex
	// jobs are posted and not yet taken by run; backlog counts the
	// commands posted and not yet applied (jobs taken included).
	jobs    []applyJob
	backlog backlogBound
	// progress, made when someone waits for the backlog to shrink, is
	// closed (and forgotten) when applies finish.
	progress chan struct{}

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
	// bytes is the size of commands (commandBytes), set by post.
	bytes int
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
	job.bytes = commandBytes(job.commands)
	a.mu.Lock()
	a.jobs = append(a.jobs, job)
	a.backlog.entries += len(job.commands)
	a.backlog.bytes += job.bytes
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// commandBytes is the size of commands, as the backlog counts it.
func commandBytes(commands []Entry) int {
	size := 0
	for _, command := range commands {
		size += len(command.Command)
	}
	return size
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
		end, size := next+1, jobs[next].bytes
		for end < len(jobs) && jobs[end].do == nil && size+jobs[end].bytes <= maxMergedBytes {
			end, size = end+1, size+jobs[end].bytes
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
	offset, bytes := 0, 0
	for _, job := range jobs {
		bytes += job.bytes
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
	a.finished(len(commands), bytes)
}

// finished counts commands as applied and wakes those waiting for the
// backlog to shrink.
func (a *applier) finished(entries, bytes int) {
	if entries == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.backlog.entries -= entries
	a.backlog.bytes -= bytes
	if a.progress != nil {
		close(a.progress)
		a.progress = nil
	}
}

// waitForRoom returns nil once the backlog is below applyBacklog or
// stepped closes (the node no longer leads: the core then refuses the
// proposal with a NotLeaderError, which names the new leader once the node
// knows it), or else ctx's error, or ErrStopped. Called by
// Propose's caller, before it hands its proposal to the loop.
func (a *applier) waitForRoom(ctx context.Context, stepped <-chan struct{}) error {
	if a.waitBelow(1, ctx.Done(), stepped) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return ErrStopped
}

// waitForMachine returns nil once the backlog is below loopWaitFactor
// times applyBacklog, or ErrStopped when stopping closes first. The loop
// calls it after it hands entries over: a machine that far behind holds
// the loop back, as a machine applied on the loop did.
func (a *applier) waitForMachine(stopping <-chan struct{}) error {
	if a.waitBelow(loopWaitFactor, stopping, nil) {
		return nil
	}
	return ErrStopped
}

// waitBelow waits until the backlog is below factor times applyBacklog
// or enough closes (nil: never) and returns true, or returns false when
// cancel closes or run ends.
func (a *applier) waitBelow(factor int, cancel, enough <-chan struct{}) bool {
	for {
		a.mu.Lock()
		if a.backlog.entries < factor*applyBacklog.entries && a.backlog.bytes < factor*applyBacklog.bytes {
			a.mu.Unlock()
			return true
		}
		if a.progress == nil {
			a.progress = make(chan struct{})
		}
		progress := a.progress
		a.mu.Unlock()
		select {
		case <-progress:
		case <-enough:
			return true
		case <-cancel:
			return false
		case <-a.done:
			return false
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
