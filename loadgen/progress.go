package loadgen

import (
	"sync"
	"sync/atomic"
	"time"
)

// progressInterval is how often a run reports its progress.
const progressInterval = 250 * time.Millisecond

// progressReporter calls a Progress callback from its own goroutine at a
// steady pace with the counters of the current phase, so the workers only
// ever increment atomic counters.
type progressReporter struct {
	callback func(Progress)
	current  atomic.Pointer[phaseCounters]
	mutex    sync.Mutex // serializes reports
	done     chan struct{}
	stopOnce sync.Once
	stopped  sync.WaitGroup
}

// phaseCounters are the counters of one phase.
type phaseCounters struct {
	phase        Phase
	stage        string
	start        time.Time
	end          time.Time // set once the phase is over: Elapsed stops there
	total        int64
	done, errors *atomic.Int64
	events       *atomic.Int64 // nil but in watch-fanout's measured phase
}

// newProgressReporter starts reporting to callback; a nil callback makes
// a reporter that does nothing.
func newProgressReporter(callback func(Progress)) *progressReporter {
	r := &progressReporter{callback: callback, done: make(chan struct{})}
	if callback == nil {
		return r
	}
	r.stopped.Add(1)
	go func() {
		defer r.stopped.Done()
		ticker := time.NewTicker(progressInterval)
		defer ticker.Stop()
		for {
			select {
			case now := <-ticker.C:
				r.report(now)
			case <-r.done:
				return
			}
		}
	}()
	return r
}

// begin makes the reports follow a new phase's counters: stage names
// big-store's stage, total is the prefill's key count, events (may be nil)
// counts watch-fanout's deliveries.
func (r *progressReporter) begin(phase Phase, start time.Time, done, errors *atomic.Int64, stage string, total int64, events *atomic.Int64) {
	r.current.Store(&phaseCounters{phase: phase, stage: stage, start: start, total: total, done: done, errors: errors, events: events})
}

// freeze ends the current phase at end and reports its final counts; the
// periodic reports that may follow (until the next phase begins) give the
// same figures.
func (r *progressReporter) freeze(end time.Time) {
	if counters := r.current.Load(); counters != nil {
		frozen := *counters
		frozen.end = end
		r.current.Store(&frozen)
	}
	r.report(end)
}

// report calls the callback with the current phase's counters as of now.
func (r *progressReporter) report(now time.Time) {
	if r.callback == nil {
		return
	}
	// Under the lock, so that a periodic report cannot come after a later
	// phase's (or the final) one with older counters.
	r.mutex.Lock()
	defer r.mutex.Unlock()
	counters := r.current.Load()
	if counters == nil {
		return
	}
	if !counters.end.IsZero() {
		now = counters.end
	}
	report := Progress{
		Phase:   counters.phase,
		Stage:   counters.stage,
		Elapsed: max(now.Sub(counters.start), 0),
		Done:    counters.done.Load(),
		Errors:  counters.errors.Load(),
		Total:   counters.total,
	}
	if counters.events != nil {
		report.Events = counters.events.Load()
	}
	r.callback(report)
}

// stop ends the periodic reports; it returns once the reporting goroutine
// is gone. It may be called more than once; report still works after it.
func (r *progressReporter) stop() {
	r.stopOnce.Do(func() { close(r.done) })
	r.stopped.Wait()
}
