package loadgen

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// steadyWorker's operations each take exactly period of (fake) time.
type steadyWorker struct{ period time.Duration }

func (w steadyWorker) do(ctx context.Context) outcome {
	timer := time.NewTimer(w.period)
	defer timer.Stop()
	select {
	case <-timer.C:
		return outcome{}
	case <-ctx.Done():
		return outcome{err: ctx.Err()}
	}
}

// TestMeasuredOperationsAreThoseThatEndInThePhase checks the counting rule
// on a fake clock: warm-up 25 ms, operations of 10 ms.
func TestMeasuredOperationsAreThoseThatEndInThePhase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		config := validConfig()
		config.Total, config.Duration = 0, 100*time.Millisecond
		start := time.Now()
		run := &measurement{config: config, measureStart: start.Add(25 * time.Millisecond), tally: newTally(config.Workload)}
		ctx, cancel := context.WithDeadline(context.Background(), run.measureStart.Add(config.Duration))
		defer cancel()
		run.work(ctx, steadyWorker{10 * time.Millisecond})
		// Operations end at 10, 20 (warm-up), 30 (begun in the warm-up,
		// counted), 40, ..., 120; the one due at 130 is cut off at 125.
		if run.warmupDone.Load() != 2 || run.tally.latencies.Count() != 10 {
			t.Fatalf("%d warm-up and %d measured operations, want 2 and 10", run.warmupDone.Load(), run.tally.latencies.Count())
		}
		if got := run.tally.latencies.Max(); got != 10*time.Millisecond {
			t.Fatalf("latency %v, want 10ms", got)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		config := validConfig()
		config.Total = 5
		start := time.Now()
		run := &measurement{config: config, measureStart: start.Add(25 * time.Millisecond), tally: newTally(config.Workload)}
		run.work(context.Background(), steadyWorker{10 * time.Millisecond})
		// The operation ending at 30 takes a ticket when it ends, those
		// begun at 30, 40, 50, 60 before they are sent; the one at 70
		// finds none left and is never sent.
		if run.tally.latencies.Count() != 5 || run.tickets.Load() != 6 || time.Since(start) != 70*time.Millisecond {
			t.Fatalf("%d measured, %d tickets taken, ended at %v; want 5, 6 and 70ms", run.tally.latencies.Count(), run.tickets.Load(), time.Since(start))
		}
		if run.stoppedBy(context.Background(), context.Background()) != "total" {
			t.Fatal("the run was not stopped by its total")
		}
	})
}

// pastDeadline is a context whose deadline has passed but whose timer has
// not cancelled it yet, as the workers can see it.
type pastDeadline struct{ context.Context }

func (pastDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// TestStoppedByDurationBeforeTheTimerFires: the workers stop once an
// operation ends past the deadline, possibly before the run context's
// timer fires; the run still stopped by duration, not by an interruption.
func TestStoppedByDurationBeforeTheTimerFires(t *testing.T) {
	m := &measurement{config: Config{Duration: time.Second}}
	parent := context.Background()
	if got := m.stoppedBy(parent, pastDeadline{parent}); got != "duration" {
		t.Errorf("stopped by %q, want duration", got)
	}
	cancelled, cancel := context.WithCancel(parent)
	cancel()
	if got := m.stoppedBy(cancelled, pastDeadline{parent}); got != "interrupted" {
		t.Errorf("with the caller's context cancelled: stopped by %q, want interrupted", got)
	}
}
