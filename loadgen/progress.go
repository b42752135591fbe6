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
	mutex    sync.Mutex // serializes calls to callback
	done     chan struct{}
	stopOnce sync.Once
	stopped  sync.WaitGroup
}

// phaseCounters are the counters of one phase.
type phaseCounters struct {
	phase        Phase
	start        time.Time
	done, errors *atomic.Int64
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

// begin makes the reports follow a new phase's counters.
func (r *progressReporter) begin(phase Phase, start time.Time, done, errors *atomic.Int64) {
	r.current.Store(&phaseCounters{phase: phase, start: start, done: done, errors: errors})
}

// report calls the callback with the current phase's counters as of now.
func (r *progressReporter) report(now time.Time) {
	counters := r.current.Load()
	if r.callback == nil || counters == nil {
		return
	}
	r.mutex.Lock()
	defer r.mutex.Unlock()
	r.callback(Progress{
		Phase:   counters.phase,
		Elapsed: max(now.Sub(counters.start), 0),
		Done:    counters.done.Load(),
		Errors:  counters.errors.Load(),
	})
}

// stop ends the periodic reports; it returns once the reporting goroutine
// is gone. It may be called more than once; report still works after it.
func (r *progressReporter) stop() {
	r.stopOnce.Do(func() { close(r.done) })
	r.stopped.Wait()
}
